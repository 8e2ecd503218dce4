"""``hf-lm``: sub-networks of a pretrained Llama-architecture causal language model (LLaMA-NAS,
Munoz et al. 2024, "LLaMA-NAS: Efficient Neural Architecture Search for Large Language Models";
InstaTune, Sridhar et al. 2023).

The decisions come from the checkpoint's ``config.json`` (``model=PATH``, a local Hugging Face
folder; only that JSON file is read here, nothing is loaded or downloaded):

- ``layers``: the number of decoder layers kept, the first k (from ``min_layers`` to all);
- ``mlp``: the MLP intermediate size of every kept layer, a leading slice of gate/up/down
  (``mlp_fractions`` of the checkpoint's ``intermediate_size``, rounded to a multiple of 8);
- ``heads``: attention heads kept in every layer, the leading ones, in whole grouped-query
  groups, so each kept query head keeps its own key/value head (multiples of
  ``num_attention_heads / num_key_value_heads`` that divide ``hidden_size``, which
  ``transformers``' ``LlamaConfig`` requires of a model it loads).

The decisions are global, not per layer, so every sub-network is itself a plain Llama model
(``save_pretrained`` of a smaller ``LlamaConfig``). The space builds no network itself: its
sub-networks inherit the checkpoint's weights (:mod:`nasforge.oneshot.lm`), and the
``lm-subnet`` evaluator scores and measures them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nasforge.space.choice import Choice
from nasforge.space.registry import register_space
from nasforge.space.space import Space

#: config.json fields a Llama checkpoint must have (positive integers)
_FIELDS = ("num_hidden_layers", "intermediate_size", "num_attention_heads", "hidden_size", "vocab_size")


def read_llama_config(model: str | Path) -> dict[str, Any]:
    """The checked ``config.json`` of the local checkpoint folder ``model`` (ValueError naming
    what is wrong: no folder, no config.json, not a Llama model, a missing or bad field)."""
    folder = Path(model).expanduser()
    if not folder.is_dir():
        raise ValueError(f"model={model!s}: no such folder (a local Hugging Face checkpoint folder with "
                         "config.json and model.safetensors; nothing is downloaded)")
    path = folder / "config.json"
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"model={model!s}: the folder has no config.json") from None
    except (OSError, ValueError) as exc:
        raise ValueError(f"model={model!s}: config.json is not readable JSON ({exc})") from None
    if not isinstance(config, dict) or config.get("model_type") != "llama":
        kind = config.get("model_type") if isinstance(config, dict) else type(config).__name__
        raise ValueError(f"model={model!s}: config.json has model_type {kind!r}; the hf-lm space takes "
                         "Llama-architecture causal LMs (model_type 'llama')")
    for name in _FIELDS:
        value = config.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"model={model!s}: config.json field {name} must be a positive integer, got {value!r}")
    heads = config["num_attention_heads"]
    kv = config.get("num_key_value_heads") or heads
    if not isinstance(kv, int) or kv < 1 or heads % kv:
        raise ValueError(f"model={model!s}: num_key_value_heads={kv!r} must divide num_attention_heads={heads}")
    return {**config, "num_key_value_heads": kv}


@register_space("hf-lm")
class HFLMSpace(Space):
    """Layers, MLP size and heads of the Llama checkpoint at ``model`` (see the module docstring)."""

    name = "hf-lm"

    def __init__(self, model: str, min_layers: int = 1,
                 mlp_fractions: Sequence[float] = (0.25, 0.5, 0.75, 1.0)) -> None:
        config = read_llama_config(model)
        self.model = str(model)
        self.min_layers = int(min_layers)
        self.mlp_fractions = tuple(float(f) for f in mlp_fractions)
        self.config = config
        depth = config["num_hidden_layers"]
        if not 1 <= int(min_layers) <= depth:
            raise ValueError(f"min_layers must be in [1, {depth}] (the checkpoint has {depth} layers), "
                             f"got {min_layers}")
        bad = [f for f in mlp_fractions if not 0 < float(f) <= 1]
        if not mlp_fractions or bad:
            raise ValueError(f"mlp_fractions must be fractions in (0, 1], got {list(mlp_fractions)}")
        width = config["intermediate_size"]
        sizes = sorted({min(width, max(8, 8 * round(float(f) * width / 8))) for f in mlp_fractions})
        group = config["num_attention_heads"] // config["num_key_value_heads"]
        heads = [h for h in range(group, config["num_attention_heads"] + 1, group) if config["hidden_size"] % h == 0]
        super().__init__([Choice("layers", list(range(int(min_layers), depth + 1))),
                          Choice("mlp", sizes), Choice("heads", heads)])

    def largest(self) -> dict[str, int]:
        """The decisions of the whole checkpoint."""
        return {c.name: c.options[-1] for c in self.choices}

    def smallest(self) -> dict[str, int]:
        """The decisions of the smallest sub-network."""
        return {c.name: c.options[0] for c in self.choices}
