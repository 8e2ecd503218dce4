"""YAML from outside, read safely: ``yaml.safe_load`` (no tags that build Python objects), and
refused when nested too deeply for the parser or when aliases expand it past
:data:`MAX_YAML_VALUES` values (a "billion laughs" document). Configs, ``-S``/``-E``/``-P``
values and run directories' ``config.yaml`` all go through :func:`safe_yaml`."""

from __future__ import annotations

from typing import Any

import yaml

#: values a YAML document may expand to through its aliases
MAX_YAML_VALUES = 100_000


def safe_yaml(text: str) -> Any:
    """``yaml.safe_load(text)``, refusing (``ValueError``) a document nested too deeply for the
    parser or expanding through aliases to more than :data:`MAX_YAML_VALUES` values."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        values = _expanded_size(node, {})
        if values > MAX_YAML_VALUES:
            raise ValueError(f"expands to {values:,} values through YAML aliases (*name), more than the "
                             f"{MAX_YAML_VALUES:,} a configuration may hold")
        return loader.construct_document(node)
    except RecursionError:
        raise ValueError("is nested too deeply to read") from None
    finally:
        loader.dispose()


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """How many values ``node`` stands for once every alias is written out (each node counted once
    per place it appears; computed once per node, so it costs as much as the file is long)."""
    if id(node) in memo:
        return memo[id(node)]
    memo[id(node)] = 1  # a node that contains itself counts once
    if isinstance(node, yaml.SequenceNode):
        total = 1 + sum(_expanded_size(item, memo) for item in node.value)
    elif isinstance(node, yaml.MappingNode):
        total = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    else:
        total = 1
    memo[id(node)] = total
    return total


