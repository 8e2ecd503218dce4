"""Logs as data: stored trials of environment runs become a dataset, and a cost model fitted on
part of it predicts the held-out rest."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import nasforge.gym  # noqa: F401 - registers the environments
from nasforge.gym import StrategyAgent
from nasforge.gym.logs import fit_logged_model, fit_on_runs, logged_dataset


def _run(path, strategy, seed, budget, **kwargs):
    env = gym.make("nasforge/Macro-v0", budget=budget, run_dir=path, seed=seed, **kwargs)
    StrategyAgent(strategy, env, seed=seed).run_episode(seed=seed)
    env.close()
    return path


@pytest.fixture(scope="module")
def macro_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("logs")
    return [_run(root / "random", "random", 0, 60), _run(root / "evolution", "evolution", 100, 60)]


def test_logged_params_are_predicted_from_the_logs(macro_runs):
    data = logged_dataset(macro_runs, metric="params", features=("flops",))
    assert data.samples == 120 and len(data) <= 120
    assert data.features == ("flops",)
    fit = fit_logged_model(data, 0.3, seed=0)
    assert fit.n_test == round(0.3 * len(data)) and fit.n_train == len(data) - fit.n_test
    assert fit.within_10pct >= 0.7 and fit.kendall_tau > 0.8  # params follow flops closely on this space
    by_run = fit_on_runs(logged_dataset(macro_runs[1:], "params", ("flops",)),
                         logged_dataset(macro_runs[:1], "params", ("flops",)))
    train_keys = {a.key for a in logged_dataset(macro_runs[1:], "params").archs}
    assert not set(by_run.test_keys) & train_keys


def test_measured_latency_logs_fit_a_latency_predictor(tmp_path):
    settings = {"source": "measured", "clock": "cpu", "repeats": 3, "warmup": 1}
    run = _run(tmp_path / "lat", "random", 0, 12, target="accuracy>=92, latency_ms<=3", latency=settings)
    data = logged_dataset([run])
    assert len(data) == 12 and data.features == ("params", "flops")
    assert np.all(data.values > 0)
    fit = fit_logged_model(data, 0.25, seed=0)
    assert fit.n_test == 3 and 0.0 <= fit.within_10pct <= 1.0 and np.isfinite(fit.mape)


def test_logs_without_the_metric_or_of_other_spaces_are_refused(tmp_path, macro_runs):
    with pytest.raises(ValueError, match="no trial with a positive 'latency_ms'"):
        logged_dataset(macro_runs)
    env = gym.make("nasforge/NB201-CIFAR10-v0", budget=2, run_dir=tmp_path / "nb201")
    StrategyAgent("random", env).run_episode()
    env.close()
    with pytest.raises(ValueError, match="searched space 'nb201'"):
        logged_dataset([macro_runs[0], tmp_path / "nb201"], metric="params")
    with pytest.raises(ValueError, match="too few"):
        fit_logged_model(logged_dataset(macro_runs[:1], "params"), 0.01)
