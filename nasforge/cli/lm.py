"""``nasforge lm-subnets``: sub-network search in a pretrained Llama checkpoint (LLaMA-NAS).

A preset of ``nasforge search`` in two steps: the local checkpoint ``--model`` is fine-tuned as
a super-network with the sandwich rule into ``RUN/supernet/`` (skipped with
``--finetune-steps 0``, and kept when a repeated command finds it done), then NSGA-II searches
the ``hf-lm`` space of that folder with the ``lm-subnet`` evaluator (validation perplexity
against params and measured latency by default), and the selected sub-network is exported with
``save_pretrained`` to ``RUN/best/model/``. The run directory is an ordinary one: ``nasforge
resume RUN``, ``show`` and ``report`` read it. The same search by hand: ``nasforge search
--space hf-lm -P model=FOLDER --evaluator lm-subnet --strategy nsga2 --task 'stdlib:level=byte'``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nasforge.cli import app
from nasforge.cli.common import (
    Command,
    Constraints,
    Device,
    EvaluatorSettings,
    Objectives,
    SpaceSettings,
    fail,
    objective_list,
    pairs,
)


@app.command("lm-subnets", cls=Command)
def lm_subnets(
    model: Annotated[Path, typer.Option(help="local Hugging Face folder of a Llama-architecture causal LM "
                                        "(config.json, *.safetensors); nothing is downloaded")],
    task: Annotated[str, typer.Option(help="text task: stdlib[:level=byte,context=N] or text:PATH[,...]")] =
        "stdlib:level=byte,context=64",
    finetune_steps: Annotated[int, typer.Option(min=0, help="sandwich-rule fine-tuning steps (0: search the "
                                                "checkpoint as it is)")] = 100,
    finetune_batch: Annotated[int, typer.Option(min=1, help="windows per fine-tuning step")] = 16,
    finetune_lr: Annotated[float, typer.Option(min=0.0, help="AdamW learning rate of the fine-tuning")] = 1e-3,
    middle: Annotated[int, typer.Option(min=0, help="random middle sub-networks per fine-tuning step")] = 2,
    trials: Annotated[int, typer.Option(min=1, help="sub-networks evaluated by the search")] = 40,
    population: Annotated[int, typer.Option(min=2, help="NSGA-II population size")] = 8,
    objective: Objectives = None,
    constraint: Constraints = None,
    final_front: Annotated[bool, typer.Option(
        "--final-front", help="also export every sub-network of the Pareto front (RUN/best/front/<i>/)")] = False,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    device: Device = "auto",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="run directory (default: "
                                             "nasforge-runs/<date>-<time>)")] = None,
    space_setting: SpaceSettings = None,
    evaluator_setting: EvaluatorSettings = None,
) -> None:
    """Fine-tune a Llama checkpoint as a super-network, search its sub-networks, export the selected one."""
    from nasforge.experiment.run_dir import DB, check_new, default_run_dir
    from nasforge.run.config import ConfigError, load_config, resolve_device

    run_dir = out if out is not None else default_run_dir()
    if (run_dir / DB).exists():
        fail(f"{run_dir} already holds a run; continue it with `nasforge resume {run_dir}`")
    space_settings = pairs(space_setting, "--space-setting")
    if "model" in space_settings:
        fail("--space-setting model=...: the model is --model (the search reads RUN/supernet after fine-tuning)")
    try:
        from nasforge.oneshot.lm.finetune import FinetuneSettings
        from nasforge.space.hf_lm import HFLMSpace

        HFLMSpace(str(model), **space_settings)  # a wrong folder or setting is refused before anything loads
        settings = FinetuneSettings(steps=max(finetune_steps, 1), batch_size=finetune_batch, lr=finetune_lr,
                                    middle=middle, seed=seed)
        check_new(run_dir)
        resolved = resolve_device(device)
    except (ValueError, TypeError, ImportError) as exc:
        fail(exc)
    supernet = run_dir / "supernet" if finetune_steps > 0 else model
    try:
        cfg = load_config(task=task, space="hf-lm", space_settings={"model": str(supernet), **space_settings},
                          strategy="nsga2", strategy_settings={"population_size": population},
                          evaluator={"name": "lm-subnet", "settings": pairs(evaluator_setting, "--evaluator-setting")},
                          objectives=objective_list(objective), constraints=constraint or None,
                          budget={"trials": trials, "minutes": None}, seed=seed, device=resolved,
                          final_front=final_front,
                          context={"space": HFLMSpace(str(model), **space_settings)})
    except (ConfigError, ValueError) as exc:
        fail(exc)
    if finetune_steps > 0:
        from nasforge.oneshot.lm.finetune import finetune_checkpoint
        from nasforge.oneshot.lm.tokens import split_windows
        from nasforge.task import load_task

        try:
            data = load_task(task, seed=seed)
            split_windows(data, "train", int(HFLMSpace(str(model)).config["vocab_size"]))  # text that fits, or why not
        except (ValueError, OSError) as exc:
            fail(f"--task: {exc}")
        typer.echo(f"fine-tuning {model} as a super-network ({finetune_steps} sandwich steps) into {supernet}")
        try:
            record = finetune_checkpoint(model, data, supernet, settings, space_settings, resolved)
        except (ValueError, ImportError, FloatingPointError) as exc:
            fail(exc)
        before, after = record["val_perplexity_before"], record["val_perplexity_after"]
        typer.echo(f"validation perplexity, largest {before['largest']:.3f} -> {after['largest']:.3f}, smallest "
                   f"{before['smallest']:.3f} -> {after['smallest']:.3f} ({record['seconds']:.0f} s)")
    from nasforge.cli.search import _run, _start

    _run(lambda callbacks, on_epoch=None: _start(cfg, run_dir, callbacks, on_epoch), cfg)
