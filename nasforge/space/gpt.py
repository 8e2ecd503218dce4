"""``gpt``: decoder-only transformer language models for sequence (text) tasks.

The decisions of AutoFormer (Chen et al. 2021, "AutoFormer: Searching Transformers for Visual
Recognition") and HAT (Wang et al. 2020, "HAT: Hardware-Aware Transformers for Efficient
Natural Language Processing") that fit a small decoder: ``embed`` (embedding channels, shared by
every layer), ``depth`` (the first ``depth`` of ``max_depth`` blocks), and per layer
``heads_<i>`` (attention heads of ``head_dim`` channels) and ``mlp_ratio_<i>`` (MLP hidden units
= ratio x embed). Every layer's decisions exist for all ``max_depth`` layers; those beyond
``depth`` are inactive and canonicalised away, so equivalent networks share one key, e.g.
``gpt:e64|h4r2,h1r4`` (embed 64; two layers: 4 heads with MLP ratio 2, 1 head with ratio 4).

Networks (:mod:`nasforge.space.gpt_model`, which documents the leading-slice naming a
weight-entangled supernet uses) take the vocabulary (``task.num_classes``) and the context
length (``task.input_shape == (T,)``) from the task, e.g. ``stdlib`` (the default) or
``text:PATH``. The default choices keep every network a few hundred thousand parameters at
most, trained in seconds per epoch on a laptop CPU.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from nasforge.space.arch import Arch
from nasforge.space.choice import Choice
from nasforge.space.registry import register_space
from nasforge.space.space import Space

_LAYER = re.compile(r"h(\d+)r(\d+)")


@register_space("gpt")
class GPTSpace(Space):
    """Decoder-only transformer LMs: embedding width, depth, per-layer heads and MLP ratio."""

    name = "gpt"
    #: the data a run of this space uses when it names none
    default_task = "stdlib"
    #: the kind of task its networks are for (:data:`nasforge.task.task.SEQUENCE`)
    task_kind = "sequence"
    #: the shape of its default task (``stdlib``: windows of 64 tokens over 96 characters), for
    #: costs measured without data (``nasforge cost``)
    default_input_shape = (64,)
    default_num_classes = 96
    #: the ``train`` evaluator's settings a run uses unless it sets them: a search of 4 trials
    #: and its final retraining take a few minutes on a laptop CPU (docs/guide.md); small
    #: batches (many steps per epoch) and no label smoothing suit next-token training
    train_defaults = {"epochs": 3, "final_epochs": 8, "batch_size": 32, "lr": 0.005, "label_smoothing": 0.0}

    def __init__(self, embed_dims: tuple[int, ...] = (32, 48, 64), max_depth: int = 4,
                 heads: tuple[int, ...] = (1, 2, 4), mlp_ratios: tuple[int, ...] = (1, 2, 4),
                 head_dim: int = 16) -> None:
        if isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < 1:
            raise ValueError(f"gpt: max_depth={max_depth!r}; expected a positive integer")
        if isinstance(head_dim, bool) or not isinstance(head_dim, int) or head_dim < 1:
            raise ValueError(f"gpt: head_dim={head_dim!r}; expected a positive integer")
        for what, values in (("embed_dims", embed_dims), ("heads", heads), ("mlp_ratios", mlp_ratios)):
            if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
                raise ValueError(f"gpt: {what}={values!r}; expected positive integers")
        choices = [Choice("embed", tuple(embed_dims)), Choice("depth", tuple(range(1, max_depth + 1)))]
        for i in range(max_depth):
            choices += [Choice(f"heads_{i}", tuple(heads)), Choice(f"mlp_ratio_{i}", tuple(mlp_ratios))]
        super().__init__(choices)
        self.max_depth, self.head_dim = max_depth, head_dim
        # the constructor's settings, kept under their names (a saved supernet rebuilds the space from them)
        self.embed_dims, self.heads, self.mlp_ratios = tuple(embed_dims), tuple(heads), tuple(mlp_ratios)

    def active(self, values: Mapping[str, Any]) -> set[str]:
        names = {"embed", "depth"}
        for i in range(int(values["depth"])):
            names |= {f"heads_{i}", f"mlp_ratio_{i}"}
        return names

    def format_body(self, values: Mapping[str, Any]) -> str:
        layers = ",".join(f"h{values[f'heads_{i}']}r{values[f'mlp_ratio_{i}']}" for i in range(int(values["depth"])))
        return f"e{values['embed']}|{layers}"

    def parse_body(self, body: str) -> dict[str, Any]:
        embed, sep, layers = body.partition("|")
        if not sep or not embed.startswith("e"):
            raise ValueError("expected 'e<embed>|h<heads>r<ratio>,...'")
        specs = layers.split(",")
        values: dict[str, Any] = {c.name: c.options[0] for c in self.choices}
        values["embed"] = int(embed[1:])
        values["depth"] = len(specs)
        if len(specs) > self.max_depth:
            raise ValueError(f"{len(specs)} layers, more than max_depth={self.max_depth}")
        for i, spec in enumerate(specs):
            match = _LAYER.fullmatch(spec)
            if match is None:
                raise ValueError(f"expected a layer like 'h4r2', got {spec!r}")
            values[f"heads_{i}"], values[f"mlp_ratio_{i}"] = int(match[1]), int(match[2])
        return values

    def layers(self, arch: Arch) -> list[tuple[int, int]]:
        """``(heads, mlp_hidden)`` of each active block of ``arch``."""
        embed = int(arch["embed"])
        return [(int(arch[f"heads_{i}"]), int(arch[f"mlp_ratio_{i}"]) * embed) for i in range(int(arch["depth"]))]

    def build(self, arch: Arch, task: Any):  # -> nn.Module
        from nasforge.space.gpt_model import GPT

        shape = tuple(int(s) for s in task.input_shape)
        if len(shape) != 1:
            raise ValueError(f"gpt builds language models for sequence tasks with inputs shaped (context,); "
                             f"task {getattr(task, 'name', '?')!r} has input shape {shape} (use 'stdlib' or "
                             "'text:PATH')")
        return GPT(int(task.num_classes), shape[0], int(arch["embed"]), self.layers(arch), self.head_dim)
