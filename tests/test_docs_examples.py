"""The docs' examples run as written, with small budgets.

Every fenced ``bash`` block of README.md and docs/*.md is read as a shell session: ``\\``
continuations are joined, comments outside quotes dropped, ``NAME=VALUE`` assignments expanded
in later lines (``$NAME``), and each line that is a command of ours is one example, named
``file:line``:

- ``nasforge ...`` (every subcommand) runs through Typer's runner, in process, exactly as
  written, then small-budget overrides are appended after its own options (Click keeps the last
  value of a single-value option; ``-S``/``-E``/``-P`` settings keep the last value of a name),
  its output path is replaced by one in ``tmp_path``, and the paths it reads that the docs
  assume to exist are replaced by fixtures (``SUBSTITUTIONS``). It must exit 0.
- ``python benchmarks/X.py ...`` are the scripts whose outputs docs/benchmarks.md records;
  they run for hours, so only their options are checked: the script's own argparse parser
  parses the line (captured from ``main()`` as it calls ``parse_args``, then stopped), or, for
  a script without argparse, every option must appear in its source.

Not collected: the README's two set-up commands (``python3.11 -m venv .venv && .venv/bin/pip
install ...``): they create virtual environments and install packages, which this test suite
runs inside of; CI runs them itself. Other shell lines (``grep``, ``head``, ...) are not ours.

Every fenced ``python`` block runs too (in ``tmp_path``), with ``nasforge.search`` given small
budgets (``_small_search``) and a few literal budgets shrunk (``PYTHON_SMALL``). Every fenced
``yaml`` block must be a valid search configuration. A command that cannot run on this machine
is listed in ``CANNOT_RUN_HERE`` with the reason; an example waiting for a fix of the code, or
of a doc that others are editing, is in ``PENDING_FIXES`` (strict xfail). Nothing is skipped
silently.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import runpy
import shlex
import shutil
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from nasforge.cli import app
from nasforge.run.config import SearchConfig

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: paths and placeholders the docs assume to exist -> the fixture that stands in for them (see
#: :class:`Made`). A ``--config FILE.yaml`` that does not exist is the YAML block of the example's
#: doc section (the one whose first line is ``# FILE.yaml``, else the section's only one), else
#: MINIMAL_CONFIG: README's search.yaml, predictors.md's mf.yaml.
SUBSTITUTIONS: dict[str, str] = {
    "RUN_DIR": "run",                    # README: any finished run directory
    "runs/nb201-evolution": "run",       # report.md: two finished runs to compare
    "runs/nb201-random": "run2",
    "runs/mf-asha": "run",               # predictors.md: the run the command above it made
    "runs/my-search": "run",             # proxies.md: a search of yours
    "/data/mine.npz": "npz",             # guide.md: your own arrays
    "runs/nb201-synflow": "proxy_table",  # benchmarks.md: the synflow table made just above
    "first30.txt": "nb201_archs",        # benchmarks.md: arch keys cut from an earlier table
    "first200.txt": "nb201_archs",
    "runs/gym-macro": "run",             # gym.md: the run directory an environment wrote just above
    "runs/tiny-llama": "tiny_llama",     # guide.md: the small Llama checkpoint the Python block makes
    "runs/lm-subnets/supernet": "tiny_llama",  # guide.md: the super-network lm-subnets fine-tuned
}

#: command text prefix -> why it cannot run on this machine (every other example has a
#: small-budget form and needs neither CUDA nor a Ray cluster)
CANNOT_RUN_HERE: dict[str, str] = {
    "nasforge search --space nb201 --evaluator tabular --strategy random --trials 60 --executor ray --workers 16 "
    "--ray-address 10.0.0.5:6379": "guide.md's Ray cluster: needs a cluster at that address; "
    "tests/experiment/test_ray_cluster.py runs this search against a cluster it starts with `ray start --head`",
}

#: (doc, example text prefix) -> (the pending fix, the error it fixes), of the code or of a doc
#: that others are editing: a strict xfail that only that error satisfies; once the fix lands the
#: example passes and the xfail fails: remove the entry
PENDING_FIXES: dict[tuple[str, str], tuple[str, str]] = {
}

#: a search config (for --config FILE when the doc section shows no YAML block)
MINIMAL_CONFIG = {"space": "conv1d", "strategy": "random"}

#: budget overrides appended to each subcommand (search is built in :func:`_search_overrides`)
SMALL: dict[str, list[str]] = {
    "bench": ["--seeds", "1", "--queries", "5", "--workers", "1"],
    "proxies": ["--archs", "3", "--workers", "1", "--batch-size", "8"],
    "latency": ["--samples", "6", "--rounds", "1", "--repeats", "3", "--warmup", "1"],
    "predictors": ["--train-sizes", "5,10", "--test-size", "20", "--pool-size", "50", "--seeds", "1",
                   "--workers", "1"],
    "oneshot": ["--epochs", "1", "--batch-size", "16", "--final-epochs", "1", "-S", "data_fraction=0.01",
                "-S", "search_trials=2", "-S", "calib_batches=1", "-S", "eval_images=16", "-S", "pt_tune_steps=1"],
    "supernet": ["--epochs", "1", "--batch-size", "16", "--rank-archs", "4", "-S", "data_fraction=0.01",
                 "-S", "search_trials=2", "-S", "calib_batches=1", "-S", "eval_images=16",
                 "-S", "warmup_fraction=0"],  # few-shot: the 3 steps all go to the sub-supernets
    "fbnetv3": ["--epochs", "1", "--final-epochs", "1", "--initial", "2", "--batch", "1", "--rounds", "1",
                "--pool-size", "10", "--neighbours", "2", "--latency-samples", "4"],
    "lm-subnets": ["--finetune-steps", "2", "--finetune-batch", "4", "--trials", "3", "--population", "2",
                   "-E", "eval_windows=4", "-E", "latency_repeats=1"],
}
#: one-shot methods as search strategies: one short epoch, a tiny inherited-weight search
ONESHOT_SMALL = ["epochs=1", "batch_size=16", "data_fraction=0.01", "search_trials=2", "calib_batches=1",
                 "eval_images=16", "pt_tune_steps=1", "warmup_fraction=0"]
#: ask/tell strategies whose set-up alone outlasts a two-trial budget
STRATEGY_SMALL: dict[str, list[str]] = {
    "fbnetv3": ["initial=2", "batch=1", "pool_size=20", "neighbours=2", "population=4", "generations=1"],
}
#: bench: strategies whose set-up scores a pool with a proxy
BENCH_SMALL: dict[str, list[str]] = {
    "proxy-evolution": ["pool_size=8", "population_size=2", "sample_size=1", "candidates=2"],
    "proxy-warmstart": ["pool_size=8", "warm_start=2"],
    "proxy-local": ["pool_size=8", "n_init=2"],
}
#: latency of a search (measured, lut or predictor): a few quick measurements
LATENCY_SMALL = {"samples": 6, "warmup": 1, "repeats": 3}
#: the train evaluator (and the final retraining) on a share of the data
DATA_FRACTION = 0.05

#: literal budgets in the docs' Python blocks -> small ones (nasforge.search is shrunk apart)
PYTHON_SMALL: dict[str, str] = {
    "repeats=50)": "repeats=5)",                                        # hardware.md
    'LatencySettings(clock="cpu")': 'LatencySettings(clock="cpu", warmup=1, repeats=3)',
    "rounds=10)": "rounds=1)",
    "space.sample_distinct(200, 0)": "space.sample_distinct(8, 0)",
    "Budget(minutes=10)": "Budget(trials=2)",                          # predictors.md
    "Recipe(epochs=15, shift=-1)": "Recipe(epochs=2, shift=-1, data_fraction=0.1)",
    "keys[1050:]": "keys[1050:1300]",
    'get_method("gdas", epochs=10, data_fraction=0.25)':                # oneshot.md
        'get_method("gdas", epochs=1, data_fraction=0.02)',
    'budget=300)': 'budget=40)',                                        # gym.md (PPO)
    "queries=300, seed=0)": "queries=40, seed=0)",
    'budget=40, run_dir=f"runs/logs-': 'budget=12, run_dir=f"runs/logs-',
    '"train"), steps=300)': '"train"), steps=3)',                       # guide.md (a small Llama)
}

_SHELL_OPERATORS = ("|", "||", "&&", ";", ">", ">>", "<", "&")


# ----------------------------------------------------------------------------- collection
@dataclass(frozen=True)
class Example:
    file: str      # relative to the repository root
    line: int      # first line of the command (or block)
    kind: str      # "nasforge", "script", "python" or "yaml"
    text: str      # the command, joined, comment dropped, variables expanded; or the block
    section: str   # the closest heading above

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}"


def _scan(text: str, env: dict[str, str] | None = None) -> str:
    """``text`` without a trailing comment, ``$NAME`` expanded outside single quotes (``env``)."""
    out: list[str] = []
    quote = None
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and quote != "'" and i + 1 < len(text):
            out.append(text[i:i + 2])
            i += 2
            continue
        if c in "'\"":
            quote = c if quote is None else (None if quote == c else quote)
        elif c == "#" and quote is None and (i == 0 or text[i - 1].isspace()):
            break
        elif c == "$" and quote != "'" and env is not None:
            m = re.match(r"\$(?:(\w+)|\{(\w+)\})", text[i:])
            if m:
                name = m[1] or m[2]
                if name not in env:
                    raise ValueError(f"${name} is not set earlier in the doc: {text!r}")
                out.append(env[name])
                i += len(m[0])
                continue
        out.append(c)
        i += 1
    return "".join(out).strip()


def _blocks(path: Path) -> list[tuple[str, int, list[tuple[int, str]], str]]:
    """Fenced blocks of a Markdown file: (language, first line, [(line, text)], section)."""
    out, lang, start, body, section = [], None, 0, [], ""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        fence = re.match(r"^```\s*([\w+-]*)\s*$", line)
        if lang is None and fence:
            lang, start, body = fence[1] or "text", number, []
        elif lang is not None and line.startswith("```"):
            out.append((lang, start, body, section))
            lang = None
        elif lang is not None:
            body.append((number, line))
        elif line.startswith("#"):
            section = line.lstrip("#").strip()
    return out


def _commands(body: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Logical lines of a bash block: continuations joined, (first line, text)."""
    out, start, parts = [], None, []
    for number, line in body:
        if start is None:
            start = number
        stripped = line.rstrip()
        if stripped.endswith("\\"):
            parts.append(stripped[:-1])
            continue
        parts.append(stripped)
        out.append((start, " ".join(p.strip() for p in parts)))
        start, parts = None, []
    if parts:
        out.append((start, " ".join(p.strip() for p in parts)))
    return out


def collect() -> list[Example]:
    examples: list[Example] = []
    for path in DOCS:
        rel = path.relative_to(ROOT).as_posix()
        env: dict[str, str] = {}
        for lang, start, body, section in _blocks(path):
            if lang == "python":
                examples.append(Example(rel, start + 1, "python", "\n".join(t for _, t in body), section))
            elif lang == "yaml":
                examples.append(Example(rel, start + 1, "yaml", "\n".join(t for _, t in body), section))
            elif lang in ("bash", "sh", "shell", "console"):
                for number, raw in _commands(body):
                    if raw.lstrip().startswith("python3.11 -m venv"):
                        continue  # set-up: creates a virtual environment (see the module docstring)
                    assignment = re.match(r"^([A-Za-z_]\w*)=(.*)$", _scan(raw))
                    if assignment:
                        env[assignment[1]] = shlex.split(assignment[2])[0] if assignment[2] else ""
                        continue
                    text = _scan(raw, env)
                    words = text.split()
                    if words[:1] == ["nasforge"]:
                        examples.append(Example(rel, number, "nasforge", text, section))
                    elif words[:1] in (["python"], ["python3"]) and len(words) > 1 and \
                            re.fullmatch(r"benchmarks/[\w-]+\.py", words[1]):
                        examples.append(Example(rel, number, "script", text, section))
    return examples


EXAMPLES = collect()


def _params(kind: str) -> list:
    params = []
    for ex in EXAMPLES:
        if ex.kind != kind:
            continue
        marks = []
        for (doc, prefix), (reason, _error) in PENDING_FIXES.items():
            if ex.file == doc and ex.text.startswith(prefix):
                marks.append(pytest.mark.xfail(strict=True, reason=reason, raises=PendingFailure))
        params.append(pytest.param(ex, id=ex.id, marks=marks))
    return params


class PendingFailure(AssertionError):
    """The failure a PENDING_FIXES entry names (any other failure stays a failure)."""


@contextlib.contextmanager
def _pending(ex: Example):
    errors = [error for (doc, prefix), (_, error) in PENDING_FIXES.items()
              if ex.file == doc and ex.text.startswith(prefix)]
    try:
        yield
    except Exception as exc:
        if any(error in str(exc) for error in errors):
            raise PendingFailure(str(exc)) from exc
        raise


def _cannot_run(ex: Example) -> None:
    for prefix, reason in CANNOT_RUN_HERE.items():
        if ex.text.startswith(prefix):
            pytest.skip(f"cannot run here: {reason}")


# ----------------------------------------------------------------------------- fixtures
runner = CliRunner()


def _invoke(args: list[str]) -> str:
    result = runner.invoke(app, args)
    if result.exit_code != 0:
        tb = ""
        if result.exc_info and not isinstance(result.exception, SystemExit):
            tb = "".join(traceback.format_exception(*result.exc_info))
        raise AssertionError(f"nasforge {shlex.join(args)}\nexit {result.exit_code}\n{result.output}\n{tb}")
    return result.output


class Made:
    """Fixtures built once per module, on first use."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._made: dict[str, Path] = {}

    def get(self, name: str) -> Path:
        if name not in self._made:
            self._made[name] = getattr(self, "_" + name)()
        return self._made[name]

    def _run(self) -> Path:
        """A tiny finished run: a tabular search, a second."""
        path = self.root / "run"
        _invoke(["search", "--space", "macro", "--evaluator", "tabular", "--trials", "5", "--out", str(path)])
        return path

    def _run2(self) -> Path:
        """Another tiny finished run (random search), to compare with the first."""
        path = self.root / "run2"
        _invoke(["search", "--space", "macro", "--evaluator", "tabular", "--strategy", "random", "--trials", "5",
                 "--out", str(path)])
        return path

    def _npz(self) -> Path:
        """1-D signals, three classes, train/val/test."""
        rng = np.random.default_rng(0)
        n, classes, length = 72, 3, 24
        templates = rng.standard_normal((classes, length)).astype(np.float32)
        y = (np.arange(n) % classes).astype(np.int64)
        x = (templates[y] + rng.standard_normal((n, length))).astype(np.float32)
        path = self.root / "mine.npz"
        np.savez(path, x_train=x[:36], y_train=y[:36], x_val=x[36:54], y_val=y[36:54], x_test=x[54:],
                 y_test=y[54:])
        return path

    def _nb201_archs(self) -> Path:
        from nasforge.space import get_space

        path = self.root / "nb201-archs.txt"
        path.write_text("".join(a.key + "\n" for a in get_space("nb201").sample_distinct(3, 0)))
        return path

    def _tiny_llama(self) -> Path:
        """A small Llama checkpoint (random weights) of tests/data/tiny-llama's config."""
        from matrix_harness import tiny_llama_checkpoint

        return tiny_llama_checkpoint(self.root / "tiny-llama")

    def _proxy_table(self) -> Path:
        """A ``nasforge proxies`` folder of NB201 with synflow and params."""
        path = self.root / "nb201-synflow"
        _invoke(["proxies", "--space", "nb201", "--task", "cifar10", "--archs-file", str(self.get("nb201_archs")),
                 "--proxies", "synflow,params", "--workers", "1", "--batch-size", "8", "--out", str(path)])
        return path


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Made:
    return Made(tmp_path_factory.mktemp("docs-fixtures"))


def _section_yaml(ex: Example, name: str) -> dict | None:
    """The YAML block of ``ex``'s doc section that is file ``name`` (``# name`` first), or the
    section's only YAML block."""
    blocks = [e for e in EXAMPLES if e.kind == "yaml" and e.file == ex.file and e.section == ex.section]
    named = [b for b in blocks if b.text.lstrip().startswith(f"# {name}")]
    chosen = named or (blocks if len(blocks) == 1 else [])
    return yaml.safe_load(chosen[0].text) if chosen else None


# ----------------------------------------------------------------------------- commands
def _substitute(token: str, ex: Example, made: Made, tmp_path: Path) -> str:
    for key in sorted(SUBSTITUTIONS, key=len, reverse=True):
        pattern = rf"(?<![\w/.-]){re.escape(key)}(?![\w/-]|\.\w)"
        if not re.search(pattern, token):
            continue
        what = SUBSTITUTIONS[key]
        if what == "run":  # a copy: resume and report write into it
            value = str(tmp_path / "run")
            if not (tmp_path / "run").exists():
                shutil.copytree(made.get("run"), tmp_path / "run")
        else:
            value = str(made.get(what))
        token = re.sub(pattern, lambda _m, v=value: v, token)
    return token


def _write_config(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def _option(args: list[str], *names: str) -> str | None:
    """The last value of a single-value option (``--name V`` or ``--name=V``)."""
    value = None
    for i, a in enumerate(args):
        for n in names:
            if a == n and i + 1 < len(args):
                value = args[i + 1]
            elif a.startswith(n + "="):
                value = a[len(n) + 1:]
    return value


def _replace_out(args: list[str], names: tuple[str, ...], out: Path) -> tuple[list[str], bool]:
    new, found, skip = [], False, False
    for i, a in enumerate(args):
        if skip:
            skip = False
            continue
        if a in names and i + 1 < len(args):
            new += [a, str(out)]
            found, skip = True, True
        elif any(a.startswith(n + "=") for n in names if n.startswith("--")):
            new.append(a.split("=", 1)[0] + "=" + str(out))
            found = True
        else:
            new.append(a)
    return new, found


def _search_overrides(args: list[str], tmp_path: Path) -> list[str]:
    from nasforge.oneshot.base import METHODS

    config_path = _option(args, "--config", "-c")
    config = yaml.safe_load(Path(config_path).read_text()) if config_path else {}
    file_evaluator = config.get("evaluator") or {}
    evaluator = _option(args, "--evaluator") or file_evaluator.get("name") or file_evaluator.get("kind") or "train"
    strategy = _option(args, "--strategy") or config.get("strategy") or SearchConfig.model_fields["strategy"].default
    extra = ["--trials", "2"]
    if strategy in METHODS.list():
        extra += [x for s in ONESHOT_SMALL for x in ("-S", s)]
        if "rank_archs=" in " ".join(args):
            extra += ["-S", "rank_archs=4"]
    for s in STRATEGY_SMALL.get(strategy, []):
        extra += ["-S", s]
    if evaluator == "train":
        extra += ["--epochs", "1", "--final-epochs", "1", "-E", f"data_fraction={DATA_FRACTION}"]
    elif evaluator != "tabular":
        extra += ["--final-epochs", "1"]
    # the run's latency and the final retraining after another evaluator: through the config
    overlay = dict(config)
    overlay["latency"] = {**(config.get("latency") or {}), **LATENCY_SMALL}
    if evaluator not in ("train", "tabular"):
        overlay["retrain"] = {**(config.get("retrain") or {}), "data_fraction": DATA_FRACTION}
    path = _write_config(tmp_path / "small.yaml", overlay)
    return [*extra, "--config", str(path)]


def nasforge_args(ex: Example, made: Made, tmp_path: Path) -> list[str]:
    """The example's arguments with fixtures substituted, its output in ``tmp_path`` and small
    budgets appended."""
    words = shlex.split(ex.text)
    bad = [w for w in words if w in _SHELL_OPERATORS]
    assert not bad, f"{ex.id}: a shell operator in a nasforge example is not supported here: {ex.text}"
    args = [_substitute(w, ex, made, tmp_path) for w in words[1:]]
    for i, a in enumerate(args[:-1]):
        if a in ("--config", "-c") and not Path(args[i + 1]).exists():
            name = Path(args[i + 1]).name
            args[i + 1] = str(_write_config(tmp_path / name, _section_yaml(ex, name) or dict(MINIMAL_CONFIG)))
    if "--help" in args or "-h" in args or not args:
        return args
    command = args[0]
    out = tmp_path / "out"
    if command in ("search", "bench", "latency", "proxies", "predictors", "oneshot", "supernet", "fbnetv3"):
        names = ("--out", "--run-dir", "-o") if command == "search" else ("--out", "-o")
        args, found = _replace_out(args, names, out)
        if not found:
            args += ["--out", str(out)]
    if command == "search":
        args += _search_overrides(args, tmp_path)
    else:
        args += SMALL.get(command, [])
    if command == "bench":
        strategies = (_option(args, "--strategies") or "").split(",")
        args += [x for s in strategies for item in BENCH_SMALL.get(s, []) for x in ("-S", f"{s}.{item}")]
    return args


@pytest.mark.parametrize("ex", _params("nasforge"))
def test_nasforge_example_runs(ex: Example, made: Made, tmp_path: Path, monkeypatch) -> None:
    _cannot_run(ex)
    monkeypatch.chdir(tmp_path)  # a default output folder lands here, not in the repository
    with _pending(ex):
        _invoke(nasforge_args(ex, made, tmp_path))


# ----------------------------------------------------------------------------- scripts
class _Parsed(Exception):
    """Raised in place of running a benchmark script once its parser accepted the arguments."""


@pytest.mark.parametrize("ex", _params("script"))
def test_benchmark_script_options_exist(ex: Example, monkeypatch) -> None:
    words = shlex.split(ex.text)
    script, argv = ROOT / words[1], words[2:]
    assert script.is_file(), f"{ex.id}: no script {words[1]}"
    source = script.read_text()
    if "argparse" not in source:  # the script reads sys.argv itself: its options must appear in it
        unknown = [a for a in argv if a.startswith("-") and a.split("=")[0] not in source]
        assert not unknown, f"{ex.id}: {words[1]} has no option(s) {unknown}"
        return
    original = argparse.ArgumentParser.parse_args

    def parse_then_stop(self, args=None, namespace=None):
        raise _Parsed(original(self, args, namespace))

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
    monkeypatch.setattr(sys, "argv", [str(script), *argv])
    monkeypatch.syspath_prepend(str(script.parent))  # as `python benchmarks/x.py` sees it
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            runpy.run_path(str(script), run_name="__main__")
    except _Parsed:
        return
    except SystemExit as exc:
        pytest.fail(f"{ex.id}: {words[1]} refuses its documented arguments (exit {exc.code}):\n{err.getvalue()}")
    pytest.fail(f"{ex.id}: {words[1]} ran without parsing its arguments with argparse")


# ----------------------------------------------------------------------------- python and YAML
def _small_search(original):
    """``nasforge.search`` with small budgets: three trials at most, one epoch on a share of
    the data, small strategy set-ups."""
    from nasforge.oneshot.base import METHODS

    def search(task=None, space=None, strategy=None, *, trials=None, minutes=None,
               evaluator=None, evaluator_settings=None, strategy_settings=None, **kwargs):
        name = evaluator if isinstance(evaluator, str) else (evaluator or {}).get("name", "train")
        small = {"epochs": 1, "final_epochs": 1, "data_fraction": DATA_FRACTION}
        if isinstance(evaluator, dict) and evaluator_settings is None:
            evaluator = {**evaluator, "settings": {**evaluator.get("settings", {}), **small}} if name == "train" \
                else evaluator
        elif name == "train":
            evaluator_settings = {**(evaluator_settings or {}), **small}
        if name not in ("train", "tabular"):
            kwargs["retrain"] = {**kwargs.get("retrain", {}), "final_epochs": 1, "data_fraction": DATA_FRACTION}
        settings = dict(strategy_settings or {})
        if (strategy or "") in METHODS.list():
            settings.update(yaml.safe_load(f"{{{', '.join(s.replace('=', ': ') for s in ONESHOT_SMALL)}}}"))
        for item in STRATEGY_SMALL.get(strategy, []):
            key, _, value = item.partition("=")
            settings[key] = yaml.safe_load(value)
        kwargs["latency"] = {**kwargs.get("latency", {}), **LATENCY_SMALL}
        return original(task, space, strategy, trials=min(trials or 3, 3), minutes=None, evaluator=evaluator,
                        evaluator_settings=evaluator_settings, strategy_settings=settings or None, **kwargs)

    return search


@pytest.mark.parametrize("ex", _params("python"))
def test_python_example_runs(ex: Example, tmp_path: Path, monkeypatch) -> None:
    import nasforge.api

    _cannot_run(ex)
    code = ex.text
    for old, new in PYTHON_SMALL.items():
        code = code.replace(old, new)
    monkeypatch.setattr(nasforge.api, "search", _small_search(nasforge.api.search))
    monkeypatch.chdir(tmp_path)
    with _pending(ex):
        exec(compile(code, ex.id, "exec"), {"__name__": "__docs_example__"})


@pytest.mark.parametrize("ex", _params("yaml"))
def test_yaml_example_is_a_valid_config(ex: Example, tmp_path: Path) -> None:
    from nasforge.run.config import load_config

    load_config(_write_config(tmp_path / "config.yaml", yaml.safe_load(ex.text)))


# ----------------------------------------------------------------------------- the tables
def test_every_table_entry_names_a_doc_example() -> None:
    """A stale entry (its example gone or reworded) would hide nothing, but it misleads."""
    commands = [e for e in EXAMPLES if e.kind in ("nasforge", "script")]
    code = "\n".join(e.text for e in EXAMPLES if e.kind == "python")
    for key in SUBSTITUTIONS:
        assert any(key in e.text for e in commands), f"SUBSTITUTIONS[{key!r}] matches no command"
    for prefix in CANNOT_RUN_HERE:
        assert any(e.text.startswith(prefix) for e in EXAMPLES), f"CANNOT_RUN_HERE[{prefix!r}] matches nothing"
    for doc, prefix in PENDING_FIXES:
        assert any(e.file == doc and e.text.startswith(prefix) for e in EXAMPLES), \
            f"PENDING_FIXES[{doc!r}, {prefix!r}] matches nothing"
    for old in PYTHON_SMALL:
        assert old in code, f"PYTHON_SMALL[{old!r}] matches no Python example"


def test_examples_are_collected_from_every_doc_with_commands() -> None:
    files = {e.file for e in EXAMPLES if e.kind == "nasforge"}
    assert "README.md" in files and len(files) >= 5, files
    assert any(e.kind == "script" for e in EXAMPLES) and any(e.kind == "python" for e in EXAMPLES)
