"""Fine-tuning a pretrained Llama as a super-network with the sandwich rule (Yu & Huang 2019,
"Universally Slimmable Networks"; BigNAS, Yu et al. 2020; used on language models by InstaTune,
Sridhar et al. 2023, and LLaMA-NAS, Munoz et al. 2024).

Every step takes one batch of token windows and accumulates the gradients of: the largest
sub-network on the true next tokens, then the smallest and ``middle`` random sub-networks on the
largest one's (detached) predicted distribution (in-place distillation: KL divergence from the
largest's softmax); then one AdamW step on the shared weights. Random sub-networks are drawn
from the space with a ``numpy`` generator seeded by ``seed``; batches are drawn with a seeded
``torch.Generator``, so a fine-tuning is reproducible.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from nasforge.oneshot.lm.elastic import ElasticLlama, SubNet
from nasforge.oneshot.lm.tokens import Windows, next_token_loss


@dataclass(frozen=True)
class FinetuneSettings:
    """Steps, batch size, AdamW learning rate, random middle sub-networks per step, seed."""

    steps: int = 100
    batch_size: int = 16
    lr: float = 1e-3
    middle: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"fine-tuning {name} must be at least 1, got {getattr(self, name)}")
        if not self.lr > 0 or not math.isfinite(self.lr):
            raise ValueError(f"fine-tuning lr must be a positive number, got {self.lr}")
        if self.middle < 0:
            raise ValueError(f"fine-tuning middle (random sub-networks per step) must be >= 0, got {self.middle}")


@dataclass
class FinetuneLog:
    """Per step: the largest sub-network's loss on the true tokens, and the mean distillation
    loss of the others; the seconds it took."""

    largest_loss: list[float] = field(default_factory=list)
    distill_loss: list[float] = field(default_factory=list)
    seconds: float = 0.0


def sandwich_finetune(net: ElasticLlama, space: Any, data: Windows, settings: FinetuneSettings,
                      on_step: Callable[[int, float], None] | None = None) -> FinetuneLog:
    """Fine-tune ``net``'s weights in place with the sandwich rule on ``data`` (see the module
    docstring); ``space`` is the ``hf-lm`` space whose sub-networks are sampled."""
    if len(data.x) < 1:
        raise ValueError("fine-tuning needs at least one training window")
    rng = np.random.default_rng(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    device = next(net.parameters()).device
    optimizer = torch.optim.AdamW(net.parameters(), lr=settings.lr, weight_decay=0.0)
    largest, smallest = SubNet.of(space.largest()), SubNet.of(space.smallest())
    log = FinetuneLog()
    start = time.perf_counter()
    net.train()
    for step in range(settings.steps):
        rows = torch.randint(len(data.x), (min(settings.batch_size, len(data.x)),), generator=generator)
        x, y = data.x[rows].to(device), data.y[rows].to(device)
        optimizer.zero_grad(set_to_none=True)
        logits = net(x, largest)
        loss = next_token_loss(logits, y)
        loss.backward()
        teacher = F.softmax(logits.detach(), dim=-1).reshape(-1, logits.shape[-1])
        students = [smallest, *(SubNet.of(space.sample(rng).to_dict()) for _ in range(settings.middle))]
        distill = []
        for sub in students:
            out = net(x, sub).reshape(-1, logits.shape[-1])
            kd = F.kl_div(F.log_softmax(out, dim=-1), teacher, reduction="batchmean")
            kd.backward()
            distill.append(float(kd.detach()))
        optimizer.step()
        log.largest_loss.append(float(loss.detach()))
        log.distill_loss.append(float(np.mean(distill)) if distill else 0.0)
        if not math.isfinite(log.largest_loss[-1]):
            raise FloatingPointError(f"fine-tuning diverged at step {step + 1}: loss {log.largest_loss[-1]}; lower lr")
        if on_step is not None:
            on_step(step + 1, log.largest_loss[-1])
    net.eval()
    log.seconds = time.perf_counter() - start
    return log


def pretrain(net: ElasticLlama, data: Windows, steps: int, batch_size: int = 16, lr: float = 3e-3,
             seed: int = 0) -> list[float]:
    """Plain next-token training of the whole model (no sub-networks): how tests and benchmarks
    make a small "pretrained" checkpoint. Returns the loss per step."""
    generator = torch.Generator().manual_seed(seed)
    device = next(net.parameters()).device
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.0)
    losses = []
    net.train()
    for _ in range(steps):
        rows = torch.randint(len(data.x), (min(batch_size, len(data.x)),), generator=generator)
        optimizer.zero_grad(set_to_none=True)
        loss = next_token_loss(net(data.x[rows].to(device)), data.y[rows].to(device))
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    net.eval()
    return losses


#: the record of a fine-tuned super-network, in its folder beside the weights
RECORD = "nasforge-finetune.json"


def finetune_checkpoint(model: str | Path, task: Any, out: str | Path, settings: FinetuneSettings,
                        space_settings: dict[str, Any] | None = None, device: str = "cpu",
                        eval_windows: int = 0) -> dict[str, Any]:
    """Fine-tune the local checkpoint ``model`` as a super-network of the ``hf-lm`` space (with
    ``space_settings``) on ``task``'s training windows and ``save_pretrained`` it to ``out``;
    returns the record written beside it (:data:`RECORD`): the settings, the validation
    perplexity of the largest and the smallest sub-network before and after, the seconds.

    ``out`` is written whole or not at all (a temporary folder renamed at the end). An ``out``
    whose record holds the same source and settings is kept as it is (a repeated command, or a
    resumed one, does not fine-tune again); another ``out`` that exists is refused."""
    import json
    import shutil

    from nasforge.core.atomic import write_text_atomic
    from nasforge.oneshot.lm.hf import load_llama, save_llama
    from nasforge.oneshot.lm.tokens import score, split_windows
    from nasforge.space.hf_lm import HFLMSpace

    out = Path(out)
    wanted = {"source": str(Path(model).resolve()), "settings": asdict(settings), "space": space_settings or {},
              "task": getattr(task, "name", str(task))}
    if out.exists():
        try:
            record = json.loads((out / RECORD).read_text())
        except (OSError, ValueError):
            raise ValueError(f"{out} exists and is not a fine-tuned super-network of nasforge (no {RECORD}); "
                             "choose another folder") from None
        if {k: record.get(k) for k in wanted} != wanted:
            raise ValueError(f"{out} holds a super-network fine-tuned from another source or with other settings "
                             f"({ {k: record.get(k) for k in wanted} }); choose another folder")
        return record
    space = HFLMSpace(str(model), **(space_settings or {}))
    net = ElasticLlama(load_llama(model, device))
    vocab = int(net.model.config.vocab_size)
    train = split_windows(task, "train", vocab)
    val = split_windows(task, "val", vocab).head(eval_windows).to(device)
    largest, smallest = SubNet.of(space.largest()), SubNet.of(space.smallest())

    def perplexities() -> dict[str, float]:
        return {"largest": score(lambda x: net(x, largest), val)["perplexity"],
                "smallest": score(lambda x: net(x, smallest), val)["perplexity"]}

    before = perplexities()
    log = sandwich_finetune(net, space, train, settings)
    after = perplexities()
    staging = out.with_name(out.name + ".partial")
    if staging.exists():
        shutil.rmtree(staging)
    save_llama(net.model, staging)
    record = {**wanted, "val_perplexity_before": before, "val_perplexity_after": after,
              "final_largest_loss": log.largest_loss[-1], "final_distill_loss": log.distill_loss[-1],
              "seconds": log.seconds}
    write_text_atomic(staging / RECORD, json.dumps(record, indent=2) + "\n")
    staging.rename(out)
    return record
