"""Weight sharing and differentiable NAS: supernets, one-shot methods, the supernet evaluator.

- :mod:`~nasforge.oneshot.supernet` — the Supernet contract and ``build_supernet(space, task)``;
  :mod:`~nasforge.oneshot.nb201` (mixed operations, :mod:`~nasforge.oneshot.mixed`),
  :mod:`~nasforge.oneshot.macro` and :mod:`~nasforge.oneshot.mbconv` (weight-entangled
  elastic layers, :mod:`~nasforge.oneshot.elastic`); ``supernet.extract(arch)`` gives the
  standalone network with inherited weights.
- :mod:`~nasforge.oneshot.base` — ``OneShotMethod.train(space, task, settings)``,
  ``OneShotSettings``, ``OneShotResult``, the ``METHODS`` registry: DARTS, GDAS, FBNet, PC-DARTS,
  ProxylessNAS (:mod:`~nasforge.oneshot.gradient`), DARTS-PT, TangleNAS, SPOS / sandwich /
  random search with weight sharing (:mod:`~nasforge.oneshot.spos`, BigNAS heuristics in
  :mod:`~nasforge.oneshot.heuristics`), few-shot NAS (:mod:`~nasforge.oneshot.fewshot`), OFA
  progressive shrinking (:mod:`~nasforge.oneshot.progressive`).
- :mod:`~nasforge.oneshot.evaluator` — the ``supernet`` evaluator; :mod:`~nasforge.oneshot.bn`
  — BN recalibration; :mod:`~nasforge.oneshot.ranking` — rank correlations with the truth.

See ``docs/oneshot.md``. Importing this package does not import torch.
"""
