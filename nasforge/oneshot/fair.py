"""Strict-fairness path sampling (FairNAS, Chu et al. 2021, "FairNAS: Rethinking Evaluation
Fairness of Weight Sharing Neural Architecture Search").

Each training step draws ``m`` paths, ``m`` the largest option count of any decision: every
decision gets a random permutation of its options and path ``j`` takes the permutation's
``j``-th option, so within one step every option of every decision is trained exactly once
(a decision with fewer than ``m`` options repeats a fresh permutation to fill the ``m`` slots).
The gradients of the ``m`` paths add up before one optimiser step. Uniform single-path sampling
(SPOS) is fair only in expectation; the sandwich rule trains the largest and smallest options
of every decision every step and the middle ones less.

Decisions that an architecture leaves inactive (conditional spaces) are canonicalised away, so
fairness there holds for the active decisions only. A space with constraints between decisions
(``is_valid``) may reject a combination: the step's permutations are then drawn again.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nasforge.space.arch import Arch

#: permutation draws per step before a constrained space is declared unfit for fair sampling
MAX_DRAWS = 100


def path_count(space: Any) -> int:
    """Paths per fair step: the largest number of options of any decision of ``space``."""
    return max(len(c.options) for c in space.choices)


def fair_paths(space: Any, rng: np.random.Generator) -> list[Arch]:
    """``path_count(space)`` architectures of ``space`` that, together, take every option of
    every decision at least once (exactly once where a decision has the most options)."""
    m = path_count(space)
    for _ in range(MAX_DRAWS):
        slots = {c.name: _slots(len(c.options), m, rng) for c in space.choices}
        paths = [{c.name: c.options[slots[c.name][j]] for c in space.choices} for j in range(m)]
        canonical = [space.canonical(p) for p in paths]
        if all(space.is_valid(p) for p in canonical):
            return [space.arch(p) for p in canonical]
    raise ValueError(f"fair sampling: {MAX_DRAWS} draws of option permutations of space {space.name!r} each gave "
                     "an invalid architecture; use sampling='uniform' or 'sandwich' on this space")


def _slots(n: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """``m`` option indices of a decision with ``n`` options: random permutations of
    ``range(n)`` laid end to end, cut to ``m``."""
    rounds = -(-m // n)
    return np.concatenate([rng.permutation(n) for _ in range(rounds)])[:m]
