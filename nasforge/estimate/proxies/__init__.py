"""Zero-cost proxies: score an untrained network from one batch, in about a second.

``PROXIES.list()`` names them; :class:`~nasforge.estimate.proxies.evaluator.ProxyEvaluator`
computes any of them for an architecture; :mod:`~nasforge.estimate.proxies.ensemble` learns a
combination from a few labelled architectures. One module per family, each citing its paper:

- ``pruning``: snip, grad_norm, plain, fisher, grasp, l2_norm (Abdelfattah et al. 2021)
- ``synflow`` (Tanaka et al. 2020), ``jacobian``: jacov (Mellor et al. 2020), epe_nas (Lopes
  et al. 2021), ``naswot``: nwot (Mellor et al. 2021), ``zen`` (Lin et al. 2021), ``epsinas``
  (Gracheva 2023), ``gradsign`` (Zhang & Jia 2022), ``counts``: params, flops.

Importing this package does not import torch; the registry loads the modules on first lookup.
"""

from __future__ import annotations

from typing import Any

from nasforge.core.registry import Registry

PROXIES: Registry[type[Any]] = Registry(
    "proxy",
    modules=tuple(f"nasforge.estimate.proxies.{m}" for m in (
        "pruning", "synflow", "jacobian", "naswot", "zen", "epsinas", "gradsign", "counts")),
)
register_proxy = PROXIES.register

#: Every registered proxy, in the order the tables list them.
DEFAULT_PROXIES = ("synflow", "snip", "grasp", "fisher", "grad_norm", "jacov", "nwot", "zen",
                   "epe_nas", "l2_norm", "plain", "params", "flops", "epsinas", "gradsign")


def get_proxy(name: str) -> Any:
    """A new instance of the proxy registered as ``name``."""
    return PROXIES.get(name)()


def parse_proxies(text: str | None) -> tuple[str, ...]:
    """``"a,b,c"`` as checked proxy names (``None`` or ``"all"``: every default proxy)."""
    if text is None or text.strip() in ("", "all"):
        return DEFAULT_PROXIES
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    for name in names:
        PROXIES.get(name)  # raises, listing the valid names
    if len(set(names)) != len(names):
        raise ValueError(f"repeated proxy names in {text!r}")
    return names


__all__ = ["DEFAULT_PROXIES", "PROXIES", "get_proxy", "parse_proxies", "register_proxy"]
