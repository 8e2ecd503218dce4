"""Performance predictors: regress accuracy on architecture features from a few measured archs.

The predictors of White et al. 2021 ("How Powerful are Performance Predictors in Neural
Architecture Search?") that matter most at small training sizes: ``gbdt``, ``rf``, ``gp`` (all
scikit-learn) and ``mlp`` (an ensemble of small torch MLPs). Features are the space's encoding
plus free statistics (log params, log FLOPs; :mod:`.stats`). Every predictor can be *pretrained*
on free statistics of unlabeled archs before it sees any accuracy (FBNetV3, Dai et al. 2021):
see :mod:`.pretrain`.

Importing this package imports neither torch nor scikit-learn.
"""

from __future__ import annotations

from nasforge.estimate.predictors.base import (
    PREDICTORS,
    Predictor,
    get_predictor,
    rank_correlations,
)

__all__ = ["PREDICTORS", "Predictor", "get_predictor", "rank_correlations"]
