"""Weight sharing and differentiable NAS: supernets, one-shot methods, the supernet evaluator.

- :mod:`~nasforge.oneshot.supernet` — the Supernet contract and ``build_supernet(space, task)``;
  :mod:`~nasforge.oneshot.nb201` (mixed operations, :mod:`~nasforge.oneshot.mixed`),
  :mod:`~nasforge.oneshot.macro` and :mod:`~nasforge.oneshot.mbconv` (weight-entangled
  elastic layers, :mod:`~nasforge.oneshot.elastic`), :mod:`~nasforge.oneshot.transformer_supernet`
  (``vit`` and ``gpt``: leading slices of the largest transformer block,
  :mod:`~nasforge.oneshot.transformer_layers`); ``supernet.extract(arch)`` gives the
  standalone network with inherited weights. TangleNAS's weight-entangled relaxations:
  :mod:`~nasforge.oneshot.entangled_edge` (nb201), :mod:`~nasforge.oneshot.mbconv_relaxed`.
- :mod:`~nasforge.oneshot.base` — ``OneShotMethod.train(space, task, settings)``,
  ``OneShotSettings``, ``OneShotResult``, the ``METHODS`` registry: DARTS, GDAS, FBNet, PC-DARTS,
  ProxylessNAS (:mod:`~nasforge.oneshot.gradient`), DARTS-PT, TangleNAS, SPOS / sandwich /
  random search with weight sharing (:mod:`~nasforge.oneshot.spos`, BigNAS heuristics in
  :mod:`~nasforge.oneshot.heuristics`), few-shot NAS (:mod:`~nasforge.oneshot.fewshot`), OFA
  progressive shrinking (:mod:`~nasforge.oneshot.progressive`).
- :mod:`~nasforge.oneshot.evaluator` — the ``supernet`` evaluator; :mod:`~nasforge.oneshot.bn`
  — BN recalibration; :mod:`~nasforge.oneshot.ranking` — rank correlations, top-k precision and
  top-10% Kendall tau against the truth; :mod:`~nasforge.oneshot.latency` — ProxylessNAS's
  expected latency from the latency table.
- :mod:`~nasforge.oneshot.lm` — sub-networks of a pretrained Llama checkpoint (LLaMA-NAS): the
  elastic model, sandwich fine-tuning and the ``lm-subnet`` evaluator of the ``hf-lm`` space.

See ``docs/oneshot.md``. Importing this package does not import torch.
"""
