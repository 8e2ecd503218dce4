"""DARTS+ early stopping (``early_stop="skip"``): training ends after the first epoch whose
derived arch has ``early_stop_skips`` skip connections, that arch is the result, a resumed run
stays stopped, and a space without skip connections is refused before training."""

from __future__ import annotations

import pytest
import torch
from oneshot_toys import tiny_spaces, tiny_task

import nasforge
from nasforge.experiment.run_dir import DB
from nasforge.experiment.storage import Storage
from nasforge.oneshot.base import get_method
from nasforge.oneshot.gradient import SKIP, skip_count
from nasforge.space.nb201 import OPS

SETTINGS = {"epochs": 4, "batch_size": 16, "arch_lr": 1e-4, "calib_batches": 1, "threads": 1, "seed": 0}


def _skip_leaning(method):
    """Begin ``method`` on the tiny nb201 space with every edge's alphas leaning hard to skip."""
    state = method.begin(tiny_spaces()["nb201"], tiny_task())
    with torch.no_grad():
        state.supernet.alphas[:, OPS.index(SKIP)] += 10.0
    return state


@pytest.mark.parametrize("name", ["darts", "darts-pt"])
def test_training_stops_once_the_derived_arch_has_enough_skips(name):
    method = get_method(name, **SETTINGS, early_stop="skip", early_stop_skips=2)
    state = _skip_leaning(method)
    while state.training():
        method.epoch(state)
    assert state.epochs_done == 1 and "after epoch 1 of 4" in state.stopped
    result = method.end(state)
    assert result.info["epochs_trained"] == 1 and result.info["stopped_early"] == state.stopped
    if name == "darts":  # DARTS+ returns the arch at the stop; DARTS-PT selects its own
        assert skip_count(result.arch) == 6


def test_without_the_criterion_or_below_its_threshold_every_epoch_runs():
    for extra in ({}, {"early_stop": "skip", "early_stop_skips": 7}):  # nb201 has 6 edges
        method = get_method("darts", **SETTINGS, **extra)
        state = _skip_leaning(method)
        while state.training():
            method.epoch(state)
        assert state.epochs_done == 4 and state.stopped is None
        assert "stopped_early" not in method.end(state).info


def test_a_restored_state_stays_stopped():
    method = get_method("darts", **SETTINGS, early_stop="skip")
    state = _skip_leaning(method)
    method.epoch(state)
    fresh = get_method("darts", **SETTINGS, early_stop="skip")
    restored = fresh.begin(tiny_spaces()["nb201"], tiny_task())
    restored.load_state_dict(state.state_dict())
    assert restored.stopped == state.stopped and not restored.training()
    old = state.state_dict()
    del old["stopped"]  # a checkpoint written before early stopping existed
    restored.load_state_dict(old)
    assert restored.stopped is None and restored.training()


def test_a_space_without_skip_connections_is_refused_before_training():
    method = get_method("proxyless", **SETTINGS, early_stop="skip")
    with pytest.raises(ValueError, match="early_stop: 'skip' counts 'skip_connect'.*'macro'"):
        method.begin(tiny_spaces()["macro"], tiny_task())


def test_a_bad_threshold_is_refused():
    with pytest.raises(ValueError, match="early_stop_skips"):
        get_method("darts", early_stop="skip", early_stop_skips=0)


def test_the_run_stops_and_records_why(tmp_path):
    """Through ``nasforge.search``: with seed 0 the tiny problem's first derived arch already has
    a skip connection, so ``early_stop_skips=1`` ends the 3-epoch run after epoch 1; the run
    stores one epoch, the reason, and that epoch's arch as its result."""
    settings = {**{k: v for k, v in SETTINGS.items() if k != "seed"}, "epochs": 3, "arch_lr": 0.5,
                "early_stop": "skip", "early_stop_skips": 1, "search_trials": 1}
    nasforge.search(tiny_task(), tiny_spaces()["nb201"], "darts", strategy_settings=settings, run_dir=tmp_path / "r",
                    trials=1, final_retrain=False, seed=0)
    storage = Storage(tmp_path / "r" / DB)
    try:
        epochs, oneshot = storage.epochs(), storage.get_meta("oneshot")
    finally:
        storage.close()
    assert len(epochs) == 1 and skip_count(tiny_spaces()["nb201"].parse(epochs[0]["derived"])) >= 1
    assert oneshot["info"]["stopped_early"].endswith("after epoch 1 of 3") and oneshot["info"]["epochs_trained"] == 1
    assert oneshot["arch"] == epochs[0]["derived"]


@pytest.mark.parametrize("name", ["spos", "sandwich", "fewshot", "ofa"])
def test_methods_without_architecture_parameters_refuse_early_stop(name):
    with pytest.raises(ValueError, match=f"early_stop: method '{name}' has no architecture parameters.*darts"):
        get_method(name, **SETTINGS, early_stop="skip")
    assert get_method(name, **SETTINGS).settings.early_stop == "off"
