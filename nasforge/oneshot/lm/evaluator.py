"""The ``lm-subnet`` evaluator: sub-networks of a (fine-tuned) Llama checkpoint with inherited
weights, scored on a text task (LLaMA-NAS, Munoz et al. 2024).

For each ``hf-lm`` arch: the validation loss, perplexity and next-token accuracy of the
sub-network's path through the super-network (:class:`~nasforge.oneshot.lm.elastic.ElasticLlama`)
on the first ``eval_windows`` validation windows of the run's text task (all when 0); its
parameters (counted from shapes); and its measured latency: the median over ``latency_repeats``
timed forwards (after ``latency_warmup`` untimed ones) of the extracted stand-alone
``LlamaForCausalLM`` on ``latency_batch`` windows of the task's context length, on the run's
device with ``threads`` torch threads, by the wall clock (``latency_clock="wall"``) or by the
measuring thread's CPU time (``"cpu"``: steadier on a shared machine, for one thread on a CPU). Strategies (NSGA-II) search perplexity against params and
latency.

The super-network is the checkpoint folder ``path`` (default: the space's ``model``), e.g. the
one ``nasforge lm-subnets`` fine-tuned with the sandwich rule. After the search the selected
sub-network is exported (``finalise = "export"``): ``best/model/`` written with
``save_pretrained`` (a smaller ``LlamaConfig``), reloaded with
``AutoModelForCausalLM.from_pretrained``, and its test perplexity and largest logit difference
from the super-network path recorded in ``best/summary.json``.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from nasforge.core.atomic import write_text_atomic
from nasforge.core.records import EvalResult, Trial
from nasforge.estimate.base import Evaluator, IncompatibleError, RunContext, register_evaluator
from nasforge.space.arch import Arch

#: the default text task: byte-level tokens suit any model with a vocabulary of 256 or more
DEFAULT_TASK = "stdlib:level=byte,context=64"


class LMSubnetSettings(BaseModel):
    """Settings of the ``lm-subnet`` evaluator."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(None, description="super-network checkpoint folder (default: the space's model)")
    eval_windows: int = Field(0, ge=0, description="validation windows scored (0: all)")
    batch_size: int = Field(32, ge=1, le=100_000)
    latency_batch: int = Field(1, ge=1, le=10_000)
    latency_repeats: int = Field(10, ge=1, le=10_000)
    latency_warmup: int = Field(2, ge=0, le=10_000)
    latency_clock: Literal["wall", "cpu"] = Field(
        "wall", description="wall: elapsed time; cpu: the measuring thread's CPU time (steadier on a shared "
        "machine, for one thread)")
    threads: int | None = Field(1, ge=1, le=1024)


@register_evaluator("lm-subnet")
class LMSubnetEvaluator(Evaluator):
    """Inherited-weight perplexity, params and latency of ``hf-lm`` sub-networks."""

    METRICS = ("val_perplexity", "val_loss", "val_accuracy", "params", "latency_ms")
    Settings = LMSubnetSettings
    finalise = "export"

    @classmethod
    def check_space(cls, space: Any, settings: LMSubnetSettings) -> None:
        if space.name != "hf-lm":
            raise IncompatibleError(f"it scores sub-networks of a Llama checkpoint (space 'hf-lm'), and "
                                    f"{space.name!r} is not one")
        import importlib.util

        if importlib.util.find_spec("transformers") is None:
            from nasforge.oneshot.lm.hf import EXTRA

            raise IncompatibleError(f"it needs Hugging Face transformers, the optional extra nasforge[lm] ({EXTRA})")
        if settings.path is not None:
            from nasforge.space.hf_lm import read_llama_config

            try:
                theirs = read_llama_config(settings.path)
            except ValueError as exc:
                raise IncompatibleError(f"path: {exc}") from None
            shape = ("num_hidden_layers", "intermediate_size", "num_attention_heads", "num_key_value_heads",
                     "hidden_size", "vocab_size")
            diff = [k for k in shape if theirs.get(k) != space.config.get(k)]
            if diff:
                raise IncompatibleError(f"checkpoint {settings.path} differs from the space's model {space.model} "
                                        f"in {diff}")

    @classmethod
    def reports(cls, settings: LMSubnetSettings, space: Any) -> list[str]:
        return list(cls.METRICS)

    @classmethod
    def default_objectives(cls, settings: LMSubnetSettings, space: Any) -> list[str]:
        return ["val_perplexity:min", "params:min", "latency_ms:min"]

    @classmethod
    def default_task(cls, settings: LMSubnetSettings, space: Any) -> str | None:
        return DEFAULT_TASK

    @classmethod
    def for_run(cls, run: RunContext, settings: LMSubnetSettings, constraints: Sequence[Any] = ()) -> LMSubnetEvaluator:
        from nasforge.oneshot.lm.tokens import split_windows

        path = settings.path or run.space.model
        if settings.latency_clock == "cpu" and str(run.device).startswith("cuda"):
            raise IncompatibleError("latency_clock=cpu times the CPU thread, not the GPU; use latency_clock=wall "
                                    f"on device {run.device!r}")
        split_windows(run.task, "val", int(run.space.config["vocab_size"]))  # refuse a non-text task now
        return cls(path, run.task, settings.eval_windows, settings.batch_size, settings.latency_batch,
                   settings.latency_repeats, settings.latency_warmup, settings.threads, run.device,
                   settings.latency_clock)

    def __init__(self, path: str, task: Any, eval_windows: int = 0, batch_size: int = 32, latency_batch: int = 1,
                 latency_repeats: int = 10, latency_warmup: int = 2, threads: int | None = 1,
                 device: str = "cpu", latency_clock: str = "wall") -> None:
        if latency_clock not in ("wall", "cpu"):
            raise ValueError(f"lm-subnet: latency_clock must be 'wall' or 'cpu', got {latency_clock!r}")
        self.path = str(path)
        self.task = task
        self.eval_windows = eval_windows
        self.batch_size = batch_size
        self.latency_batch = latency_batch
        self.latency_repeats = latency_repeats
        self.latency_warmup = latency_warmup
        self.threads = threads
        self.device = device
        self.latency_clock = latency_clock
        self._cache: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_cache": None}

    def metric_names(self) -> list[str]:
        return list(self.METRICS)

    def _load(self) -> tuple[Any, Any]:
        if self._cache is None:
            from nasforge.oneshot.lm.elastic import ElasticLlama
            from nasforge.oneshot.lm.hf import load_llama
            from nasforge.oneshot.lm.tokens import split_windows

            net = ElasticLlama(load_llama(self.path, self.device))
            val = split_windows(self.task, "val", net.model.config.vocab_size).head(self.eval_windows)
            self._cache = (net, val.to(self.device))
        return self._cache

    def _evaluate(self, arch: Arch) -> Mapping[str, float] | EvalResult:
        import torch

        from nasforge.oneshot.lm.elastic import SubNet
        from nasforge.oneshot.lm.tokens import score

        if self.threads:
            torch.set_num_threads(self.threads)
        if arch.space != "hf-lm":
            raise ValueError(f"{arch.key!r} is not an architecture of space 'hf-lm'")
        net, val = self._load()
        sub = SubNet.of(arch.to_dict())
        scores = score(lambda x: net(x, sub), val, self.batch_size)
        latency = measure_ms(net.extract(sub), val.x[: self.latency_batch], self.latency_repeats,
                             self.latency_warmup, self.latency_clock)
        return {"val_perplexity": scores["perplexity"], "val_loss": scores["loss"],
                "val_accuracy": scores["accuracy"], "params": float(net.sub_params(sub)), "latency_ms": latency}

    @classmethod
    def export(cls, arch: Arch, settings: LMSubnetSettings, run: RunContext, out_dir: Path,
               trial: Trial | None = None) -> dict[str, Any]:
        """Export ``arch``'s sub-network (the selected one, or a front member) into ``out_dir``
        (see the module docstring); ``trial``'s search metrics go into the summary."""
        return export_subnet(arch, settings.path or run.space.model, run.task, out_dir, run.device,
                             settings.batch_size, {k: float(v) for k, v in (trial.metrics if trial else {}).items()},
                             trial.number if trial else None)


def measure_ms(model: Any, ids: Any, repeats: int, warmup: int, clock: str = "wall") -> float:
    """Median milliseconds of one forward of ``model`` on token ids ``ids`` (no gradients), by
    the wall clock or by the CPU time of this thread (``clock="cpu"``)."""
    import torch

    now = time.thread_time if clock == "cpu" else time.perf_counter

    with torch.no_grad():
        for _ in range(warmup):
            model(ids)
        times = []
        for _ in range(repeats):
            start = now()
            model(ids)
            if ids.is_cuda:
                torch.cuda.synchronize()
            times.append((now() - start) * 1000.0)
    return float(statistics.median(times))


def export_subnet(arch: Arch, supernet: str, task: Any, out_dir: Path, device: str = "cpu", batch_size: int = 32,
                  search_metrics: Mapping[str, float] | None = None, trial: int | None = None) -> dict[str, Any]:
    """Write the sub-network ``arch`` of the checkpoint ``supernet`` to ``out_dir/model/`` with
    ``save_pretrained``, reload it with ``AutoModelForCausalLM.from_pretrained`` (local files,
    safetensors), check that it computes the super-network path's logits on the first test
    windows, score it on the test split and write ``out_dir/arch.json`` and
    ``out_dir/summary.json`` (last). Idempotent: an existing summary of the same arch is kept."""
    import torch

    from nasforge.oneshot.lm.elastic import ElasticLlama, SubNet
    from nasforge.oneshot.lm.hf import load_llama, save_llama
    from nasforge.oneshot.lm.tokens import score, split_windows

    out_dir = Path(out_dir)
    done = _exported(out_dir, arch.key)
    if done is not None:
        return done
    net = ElasticLlama(load_llama(supernet, device))
    sub = SubNet.of(arch.to_dict())
    folder = save_llama(net.extract(sub), out_dir / "model")
    reloaded = load_llama(folder, device)
    test = split_windows(task, "test", net.model.config.vocab_size).to(device)
    with torch.no_grad():
        probe = test.x[: min(4, len(test.x))]
        difference = float((reloaded(probe).logits - net(probe, sub)).abs().max())
    exported = score(lambda x: reloaded(x).logits, test, batch_size)
    path_scores = score(lambda x: net(x, sub), test, batch_size)
    config = reloaded.config
    summary = {
        "kind": "export", "arch": arch.key, "trial": trial, "supernet": str(supernet), "model": str(folder),
        "config": {"num_hidden_layers": config.num_hidden_layers, "intermediate_size": config.intermediate_size,
                   "num_attention_heads": config.num_attention_heads,
                   "num_key_value_heads": config.num_key_value_heads, "head_dim": config.head_dim},
        "params": sum(p.numel() for p in reloaded.parameters()),
        "test_perplexity": exported["perplexity"], "test_loss": exported["loss"],
        "test_accuracy": exported["accuracy"], "supernet_path_test_perplexity": path_scores["perplexity"],
        "max_abs_logit_difference": difference, "search": dict(search_metrics or {}),
    }
    write_text_atomic(out_dir / "arch.json", arch.to_json() + "\n")
    write_text_atomic(out_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def _exported(out_dir: Path, arch_key: str) -> dict[str, Any] | None:
    try:
        summary = json.loads((out_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(summary, dict) or summary.get("arch") != arch_key or summary.get("kind") != "export":
        return None
    return summary if (out_dir / "model" / "config.json").is_file() else None
