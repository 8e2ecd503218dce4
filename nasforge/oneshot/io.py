"""Save and load a trained supernet: space settings, supernet settings and state dict.

The file is a plain ``torch.save`` of tensors and JSON-like values (loaded with
``weights_only=True``), so loading it runs no pickled code. It does not depend on the device
that trained the supernet: tensors are saved from the CPU and loaded onto the device asked for.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import torch

from nasforge.oneshot.supernet import Supernet, build_supernet


def space_settings(space: Any) -> dict[str, Any]:
    """The space's constructor arguments, read back from its attributes of the same names."""
    names = [p for p in inspect.signature(type(space).__init__).parameters if p != "self"]
    missing = [n for n in names if not hasattr(space, n)]
    if missing:
        raise ValueError(f"space {space.name!r} does not keep its settings {missing}; cannot save it")
    return {n: list(v) if isinstance(v, tuple) else v for n, v in ((n, getattr(space, n)) for n in names)}


def save_supernet(supernet: Supernet, path: str | Path) -> Path:
    """Write ``supernet`` to ``path`` (parents created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"space": supernet.space.name, "space_settings": space_settings(supernet.space),
                "input_shape": list(supernet.shape.input_shape), "num_classes": supernet.shape.num_classes,
                "config": dict(supernet.config),
                "state_dict": {k: v.detach().cpu() for k, v in supernet.state_dict().items()}}, path)
    return path


def read_header(path: str | Path) -> dict[str, Any]:
    """The space, space settings, input shape and classes a supernet file was saved with."""
    data = torch.load(Path(path), map_location="cpu", weights_only=True)
    missing = {"space", "space_settings", "input_shape", "num_classes", "state_dict"} - set(data)
    if missing:
        raise ValueError(f"{path} is not a nasforge supernet file (it lacks {sorted(missing)})")
    return {k: data[k] for k in ("space", "space_settings", "input_shape", "num_classes")}


def load_supernet(path: str | Path, device: str = "cpu") -> Supernet:
    """The supernet saved at ``path``, on ``device`` (in eval mode)."""
    from nasforge.hardware.metrics import TaskShape
    from nasforge.space.registry import get_space

    data = torch.load(Path(path), map_location="cpu", weights_only=True)
    settings = {k: tuple(v) if isinstance(v, list) else v for k, v in data["space_settings"].items()}
    space = get_space(data["space"], **settings)
    shape = TaskShape(tuple(data["input_shape"]), int(data["num_classes"]))
    config = dict(data["config"])
    fewshot = config.pop("fewshot", None)
    if fewshot is not None:  # sub-supernets of a few-shot run (nasforge.oneshot.fewshot)
        from nasforge.oneshot.fewshot import FewShotSupernet

        supernet: Supernet = FewShotSupernet(space, shape, fewshot["split_on"], fewshot["groups"], **config)
    else:
        supernet = build_supernet(space, shape, **config)
    supernet.load_state_dict(data["state_dict"])
    return supernet.to(device).eval()
