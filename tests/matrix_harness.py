"""Strategy x evaluator x space through ``nasforge search``, with tiny budgets.

Each cell runs the real command (Typer's runner, in process) on tiny data: a few trials, a tiny
network per space, one epoch for the training evaluator, a small proxy batch, an untrained
supernet file, a predictor fitted on a benchmark or a small CSV. A cell either completes with a
run directory (``trials.db``, ``pareto.csv``, ``report.html``) or is refused before anything
starts (exit 2, no run directory) with a message naming what does not fit.

Used by ``tests/test_matrix.py`` and by ``benchmarks/matrix.py`` (the table in
``docs/compatibility.md``).
"""

from __future__ import annotations

import csv
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

EVALUATORS = ("train", "tabular", "proxy", "supernet", "predictor")
#: the config.json of a tiny Llama checkpoint (no weights): the decisions of the hf-lm space
TINY_LLAMA = Path(__file__).parent / "data" / "tiny-llama"
#: tiny settings of every space (-P NAME=VALUE); the decisions stay those of the benchmarks
SPACE_SETTINGS = {
    "nb201": ["channels=4", "cells=1"],
    "macro": ["stem=4", "head=8"],
    "mbconv": ["widths=[8,8]", "strides=[1,2]", "depths=[1,2]", "stem=8", "head=8"],
    "conv1d": ["channels=[4,8]", "max_depth=2"],
    "joint": ["base=conv1d", "base_settings={channels: [4, 8], max_depth: 2}", "recipe=[lr]"],
    "quant": ["base=conv1d", "base_settings={channels: [4, 8], max_depth: 2}"],
    "hf-lm": [f"model={TINY_LLAMA}"],
    "vit": ["embed_dims=[8,16]", "depths=[1,2]", "heads=[1,2]", "head_dim=4"],
    "gpt": ["embed_dims=[8,16]", "max_depth=2", "heads=[1,2]", "mlp_ratios=[1,2]", "head_dim=4"],
}
#: the text task of the gpt space: a character corpus of this many characters, windows of CONTEXT
CORPUS_CHARS, CONTEXT = 1200, 8
#: strategy settings that fit a budget of a few trials
STRATEGY_SETTINGS = {
    "proxy-evolution": ["pool_size=8", "warm_start=2", "population_size=2", "sample_size=1", "candidates=2",
                        "scorer_settings={batch_size: 8}"],
    "proxy-warmstart": ["pool_size=8", "warm_start=2", "scorer_settings={batch_size: 8}"],
    "proxy-local": ["pool_size=8", "n_init=2", "scorer_settings={batch_size: 8}"],
    "evolution": ["population_size=2", "sample_size=1"],
    "bananas": ["n_init=2", "n_random=4", "top_k=2", "n_mutations=4", "epochs=20"],
    "nsga2": ["population_size=2"],
    "fbnetv3": ["pool_size=30", "initial=2", "batch=1", "population=4", "generations=1"],
}
#: one-shot methods (strategies too): one short epoch, a tiny inherited-weight search
ONESHOT_SETTINGS = ["epochs=1", "batch_size=12", "search_trials=2", "calib_batches=1", "eval_images=8",
                    "pt_tune_steps=1"]
#: one-shot methods that need more steps than one short epoch gives (a few-shot split trains one
#: sub-supernet per option after its warm-up)
ONESHOT_EXTRA: dict[str, list[str]] = {m: ["batch_size=3", "warmup_fraction=0.1"] for m in ("fewshot", "fewshot-gm")}
TRIALS = 3


def strategies() -> list[str]:
    """Every registered strategy: the ask/tell ones and the one-shot methods."""
    from nasforge.oneshot.base import METHODS
    from nasforge.strategy.base import STRATEGIES

    return [*STRATEGIES.list(), *METHODS.list()]


def is_oneshot(strategy: str) -> bool:
    from nasforge.oneshot.base import METHODS

    return strategy in METHODS


@dataclass(frozen=True)
class Cell:
    strategy: str
    evaluator: str
    space: str
    status: str  # "completes" or "refused"
    message: str
    seconds: float


def prepare(root: Path) -> dict[str, Path]:
    """Tiny data (images 3x8x8 and 1-D signals), untrained supernet files, predictor CSVs."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    files: dict[str, Path] = {}
    for name, shape in (("images", (3, 8, 8)), ("signals", (24,))):
        n, classes = 72, 3
        templates = rng.standard_normal((classes, *shape)).astype(np.float32)
        y = (np.arange(n) % classes).astype(np.int64)
        x = (templates[y] + rng.standard_normal((n, *shape))).astype(np.float32)
        path = root / f"{name}.npz"
        np.savez(path, x_train=x[:36], y_train=y[:36], x_val=x[36:54], y_val=y[36:54], x_test=x[54:], y_test=y[54:])
        files[name] = path
    from nasforge.hardware.metrics import TaskShape
    from nasforge.oneshot.io import save_supernet
    from nasforge.oneshot.supernet import SUPERNETS, build_supernet
    from nasforge.task import load_task

    words = ["the ", "cat ", "sat ", "on ", "a ", "mat. "]
    corpus = "".join(words[i] for i in rng.integers(0, len(words), CORPUS_CHARS))[:CORPUS_CHARS]
    (root / "corpus.txt").write_text(corpus)
    files["text"] = root / "corpus.txt"
    text_task = load_task(task_of("gpt", files))
    for space_name in SUPERNETS.list():
        if space_name not in SPACE_SETTINGS:  # a space the matrix does not cover (yet)
            continue
        space = space_from_settings(space_name, SPACE_SETTINGS[space_name])
        shape = text_task if space_name == "gpt" else TaskShape((3, 8, 8), 3)
        files[f"supernet-{space_name}"] = save_supernet(build_supernet(space, shape),
                                                        root / f"supernet-{space_name}.pt")
    files["tiny-llama"] = tiny_llama_checkpoint(root / "tiny-llama")
    for space_name in ("conv1d", "joint", "quant", "mbconv", "vit", "gpt"):
        space = space_from_settings(space_name, SPACE_SETTINGS[space_name])
        path = root / f"measured-{space_name}.csv"
        with open(path, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["arch", "status", "val_accuracy"])
            for i, arch in enumerate(space.sample_distinct(12, 0)):
                writer.writerow([arch.key, "complete", 0.5 + 0.04 * (i % 7)])
        files[f"measured-{space_name}"] = path
    return files


def tiny_llama_checkpoint(folder: Path) -> Path:
    """A randomly initialised Llama of :data:`TINY_LLAMA`'s config, saved to ``folder``."""
    import json

    import torch

    from nasforge.oneshot.lm.hf import save_llama, transformers

    tf = transformers()
    torch.manual_seed(0)
    config = tf.LlamaConfig(**json.loads((TINY_LLAMA / "config.json").read_text()))
    return save_llama(tf.LlamaForCausalLM(config).eval(), folder)


def space_from_settings(name: str, items: list[str]):
    """The space ``name`` built from ``-P`` items, as ``nasforge search`` builds it."""
    import yaml

    from nasforge.space.registry import SPACES

    settings = {k: yaml.safe_load(v) for k, _, v in (item.partition("=") for item in items)}
    return SPACES.get(name)(**SPACES.check_settings(name, settings))


def task_of(space: str, files: dict[str, Path]) -> str:
    if space == "gpt":
        return f"text:{files['text']},context={CONTEXT}"
    return f"npz:{files['signals' if space in ('conv1d', 'joint', 'quant') else 'images']}"


def evaluator_args(evaluator: str, space: str, files: dict[str, Path]) -> list[str]:
    """The ``--evaluator`` and ``-E`` options of a cell."""
    settings = {
        "train": ["epochs=1", "batch_size=16"],
        "tabular": [],
        "proxy": ["proxies=synflow", "batch_size=8"],
        "supernet": [f"path={files.get(f'supernet-{space}', 'no-supernet-for-' + space)}", "calib_batches=1",
                     "batch_size=8"],
        "predictor": (["data=benchmark:nb201-cifar10", "metric=accuracy", "samples=20"] if space == "nb201" else
                      ["data=benchmark:macro", "metric=accuracy", "samples=20"] if space == "macro" else
                      [f"data={files.get(f'measured-{space}', 'no-measurements-of-' + space)}",
                       "metric=val_accuracy"]),
    }[evaluator]
    out = ["--evaluator", evaluator]
    for item in settings:
        out += ["-E", item]
    return out


def cell_args(strategy: str, evaluator: str, space: str, files: dict[str, Path], out: Path) -> list[str]:
    """The whole ``nasforge search`` command line of a cell."""
    args = ["search", "--task", task_of(space, files), "--space", space, "--strategy", strategy,
            *evaluator_args(evaluator, space, files), "--trials", str(TRIALS), "--no-final-retrain",
            "--seed", "0", "--out", str(out)]
    for item in SPACE_SETTINGS[space]:
        args += ["-P", item]
    for item in ([*ONESHOT_SETTINGS, *ONESHOT_EXTRA.get(strategy, [])] if is_oneshot(strategy)
                 else STRATEGY_SETTINGS.get(strategy, [])):
        args += ["-S", item]
    return args


def run_cell(strategy: str, evaluator: str, space: str, files: dict[str, Path], out: Path) -> Cell:
    """Run one cell; check what it leaves (see the module docstring)."""
    import time

    from typer.testing import CliRunner

    from nasforge.cli import app

    start = time.perf_counter()
    result = CliRunner().invoke(app, cell_args(strategy, evaluator, space, files, out))
    seconds = time.perf_counter() - start
    text = " ".join(result.output.split())
    if result.exit_code == 0:
        missing = [f for f in ("trials.db", "pareto.csv", "report.html", "config.yaml") if not (out / f).is_file()]
        if missing:
            raise AssertionError(f"{strategy} x {evaluator} x {space}: completed without {missing}: {text}")
        with sqlite3.connect(out / "trials.db") as db:
            done = db.execute("SELECT COUNT(*) FROM trials WHERE status != 'cached'").fetchone()[0]
        if done < 1:
            raise AssertionError(f"{strategy} x {evaluator} x {space}: completed with no trial")
        return Cell(strategy, evaluator, space, "completes", f"{done} trials", seconds)
    if result.exit_code == 2 and text.startswith("error:") and not out.exists():
        return Cell(strategy, evaluator, space, "refused", text.removeprefix("error: "), seconds)
    raise AssertionError(f"{strategy} x {evaluator} x {space}: exit {result.exit_code}: {text}"
                         + (f"\n{result.exception!r}" if result.exception else ""))


def markdown(cells: list[Cell]) -> str:
    """The matrix as a table: one row per (evaluator, space): the ask/tell strategies and the
    one-shot methods that complete there, and the messages of those refused before starting."""
    kinds = {"ask/tell": sorted({c.strategy for c in cells if not is_oneshot(c.strategy)}),
             "one-shot": sorted({c.strategy for c in cells if is_oneshot(c.strategy)})}
    lines = [f"| evaluator | space | ask/tell strategies ({len(kinds['ask/tell'])}) | one-shot methods "
             f"({len(kinds['one-shot'])}) | refused before starting, with |", "|---|---|---|---|---|"]
    for evaluator in EVALUATORS:
        for space in SPACE_SETTINGS:
            row = {c.strategy: c for c in cells if c.evaluator == evaluator and c.space == space}
            if not row:
                continue
            shown = []
            for names in kinds.values():
                done = [n for n in names if n in row and row[n].status == "completes"]
                shown.append("all" if done and len(done) == len(names) else ", ".join(done) or "none")
            messages: dict[str, list[str]] = {}
            for c in row.values():
                if c.status == "refused":  # one message per kind of refusal, the strategy's name left out
                    text = c.message.removeprefix("invalid configuration: config: ").replace(f"'{c.strategy}'", "M")
                    text = text.split(" (it searches spaces")[0].split(" (the train evaluator")[0]
                    messages.setdefault(text, []).append(c.strategy)
            refused = "<br>".join(f"{', '.join(who)}: {m}" if len(who) < 4 else
                                  f"every {'one-shot method' if is_oneshot(who[0]) else 'ask/tell strategy'}: {m}"
                                  for m, who in sorted(messages.items()))
            lines.append(f"| {evaluator} | {space} | {shown[0]} | {shown[1]} | {refused.replace('|', '/')} |")
    return "\n".join(lines)
