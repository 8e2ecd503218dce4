"""Language-model sub-networks on the stdlib corpus (issue 18, LLaMA-NAS / InstaTune), end to end.

    python benchmarks/lm_subnets.py --out /tmp/lm-bench
    python benchmarks/lm_subnets.py --model PATH --out /tmp/lm-bench   # your own local Llama

1. The "pretrained" checkpoint: with ``--model``, a local Llama-architecture folder; without it
   (nothing can be downloaded here), a small Llama (``--hidden``, ``--layers``, ``--heads``,
   ``--kv-heads``, ``--intermediate``) trained from random weights for ``--pretrain-steps`` on
   the byte-level stdlib corpus, saved with ``save_pretrained`` to ``OUT/pretrained``.
2. ``nasforge lm-subnets`` on it (the real command, in a subprocess): sandwich fine-tuning
   (``--finetune-steps``) into ``OUT/run/supernet``, NSGA-II over ``--trials`` sub-networks on
   validation perplexity, params and measured latency, with ``params <= --max-params-fraction``
   of the whole model as the constraint that picks the exported sub-network, exported to
   ``OUT/run/best/model``.
3. The tables (markdown): the super-network's own validation perplexity, on every validation window (the checkpoint before
   fine-tuning, the largest and smallest sub-networks after), the front of sub-networks
   (perplexity against params and latency; every evaluated sub-network, the constraint aside),
   and the chosen sub-network's test perplexity after export and reload against the
   super-network path, with the largest logit difference.

A finished ``OUT/pretrained`` is reused; a run already in ``OUT/run`` is continued with ``nasforge
resume`` (a finished one only reported). One torch thread throughout.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def pretrained_checkpoint(args: argparse.Namespace, task: str) -> tuple[Path, dict[str, Any]]:
    """The checkpoint folder, and how it was made."""
    if args.model is not None:
        return Path(args.model), {"source": str(args.model)}
    folder = args.out / "pretrained"
    record = folder / "pretrain.json"
    if record.is_file():
        return folder, json.loads(record.read_text())
    import torch

    from nasforge.oneshot.lm.elastic import ElasticLlama
    from nasforge.oneshot.lm.finetune import pretrain
    from nasforge.oneshot.lm.hf import save_llama, tiny_llama
    from nasforge.oneshot.lm.tokens import score, split_windows
    from nasforge.task import load_task

    torch.set_num_threads(1)
    data = load_task(task)
    net = ElasticLlama(tiny_llama(hidden_size=args.hidden, layers=args.layers, heads=args.heads,
                                  kv_heads=args.kv_heads, intermediate_size=args.intermediate,
                                  max_positions=max(256, args.context), seed=args.seed))
    start = time.perf_counter()
    losses = pretrain(net, split_windows(data, "train"), args.pretrain_steps, batch_size=16, lr=args.pretrain_lr,
                      seed=args.seed)
    info = {"steps": args.pretrain_steps, "final_loss": losses[-1], "seconds": time.perf_counter() - start,
            "params": sum(p.numel() for p in net.parameters()),
            "val_perplexity": score(net, split_windows(data, "val"))["perplexity"]}
    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    save_llama(net.model, staging)
    (staging / "pretrain.json").write_text(json.dumps(info, indent=2) + "\n")
    staging.rename(folder)
    return folder, info


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--model", type=Path, default=None, help="a local Llama checkpoint folder")
    parser.add_argument("--context", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=96)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--kv-heads", type=int, default=2)
    parser.add_argument("--intermediate", type=int, default=256)
    parser.add_argument("--pretrain-steps", type=int, default=400)
    parser.add_argument("--pretrain-lr", type=float, default=3e-3)
    parser.add_argument("--finetune-steps", type=int, default=100)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--eval-windows", type=int, default=0, help="validation windows per sub-network (0: all)")
    parser.add_argument("--max-params-fraction", type=float, default=0.6)
    parser.add_argument("--latency-clock", choices=("wall", "cpu"), default="cpu",
                        help="lm-subnet's latency_clock (cpu: steadier on a shared machine)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    task = f"stdlib:level=byte,context={args.context}"
    args.out.mkdir(parents=True, exist_ok=True)
    model, made = pretrained_checkpoint(args, task)
    print(f"checkpoint {model}: {json.dumps(made)}", flush=True)

    from nasforge.space.hf_lm import HFLMSpace

    full = HFLMSpace(str(model))
    from nasforge.oneshot.lm.hf import load_llama

    total = sum(p.numel() for p in load_llama(model).parameters())
    run = args.out / "run"
    command = [str(Path(sys.executable).with_name("nasforge")), "lm-subnets", "--model", str(model), "--task", task,
               "--finetune-steps", str(args.finetune_steps), "--trials", str(args.trials), "--population",
               str(args.population), "-E", f"eval_windows={args.eval_windows}", "-E",
               f"latency_clock={args.latency_clock}", "--constraint",
               f"params<={int(args.max_params_fraction * total)}", "--seed", str(args.seed), "--device", "cpu",
               "--out", str(run)]
    if (run / "trials.db").is_file():  # an earlier, interrupted benchmark: finish that run
        command = [command[0], "resume", str(run)]
    print("$ " + " ".join(command), flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    seconds = time.perf_counter() - start
    report(run, full, total, made, seconds)


def report(run: Path, space: Any, total: int, made: dict[str, Any], seconds: float) -> None:
    """Print the three tables of the module docstring from the run directory."""
    record = json.loads((run / "supernet" / "nasforge-finetune.json").read_text())
    before, after = record["val_perplexity_before"], record["val_perplexity_after"]
    with sqlite3.connect(run / "trials.db") as db:
        search = db.execute("SELECT MAX(finished) - MIN(started) FROM trials").fetchone()[0]
    print(f"\nwall time of this command: {seconds:.0f} s; sandwich fine-tuning {record['seconds']:.0f} s, the "
          f"search's trials {search:.0f} s\n")
    print("| super-network (whole model unless said) | validation perplexity |\n|---|---|")
    if "val_perplexity" in made:
        print(f"| pretrained checkpoint ({made['steps']} steps, {made['params']:,} params) | "
              f"{made['val_perplexity']:.3f} |")
    print(f"| before fine-tuning: largest / smallest sub-network | {before['largest']:.3f} / "
          f"{before['smallest']:.3f} |")
    print(f"| after sandwich fine-tuning ({record['settings']['steps']} steps): largest / smallest | "
          f"{after['largest']:.3f} / {after['smallest']:.3f} |")
    with sqlite3.connect(run / "trials.db") as db:
        rows = db.execute("SELECT arch_key, status, metrics FROM trials").fetchall()
    points = []
    for arch, status, metrics in rows:
        values = json.loads(metrics) if metrics else {}
        if "val_perplexity" in values:
            points.append((arch, status, values))
    front = {r["arch"] for r in csv.DictReader(open(run / "pareto.csv"))}
    unconstrained = [p for p in points if not any(
        q[2]["val_perplexity"] <= p[2]["val_perplexity"] and q[2]["params"] <= p[2]["params"]
        and q[2]["latency_ms"] <= p[2]["latency_ms"] and q[2] != p[2] for q in points)]
    print(f"\n{len(points)} sub-networks evaluated; the {len(unconstrained)} non-dominated ones (perplexity, params, "
          "latency; * = on the run's constrained front):\n")
    print("| sub-network | val perplexity | params | latency (ms) |\n|---|---|---|---|")
    for arch, _, m in sorted(unconstrained, key=lambda p: p[2]["params"]):
        mark = " *" if arch in front else ""
        print(f"| {arch.removeprefix('hf-lm:')}{mark} | {m['val_perplexity']:.3f} | {int(m['params']):,} | "
              f"{m['latency_ms']:.2f} |")
    summary = json.loads((run / "best" / "summary.json").read_text())
    print(f"\nchosen sub-network {summary['arch']} ({summary['params']:,} of {total:,} params): test perplexity "
          f"after save_pretrained + from_pretrained {summary['test_perplexity']:.4f}, through the super-network "
          f"{summary['supernet_path_test_perplexity']:.4f}; largest logit difference "
          f"{summary['max_abs_logit_difference']:.1e}")


if __name__ == "__main__":
    main()
