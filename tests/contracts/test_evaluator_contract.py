"""Contract tests every evaluator chosen by name passes (parametrized over ``EVALUATORS.list()``):
its settings validate and refuse unknown names; it says which spaces it evaluates and refuses the
others with ``IncompatibleError``; built ``for_run``, it reports what ``reports`` promises, gives
the same metrics for the same architecture, survives pickling (worker processes), and turns a
bad architecture into a failed result instead of raising. The same tiny data and files as the
strategy x evaluator x space matrix (``tests/matrix_harness.py``)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import yaml
from matrix_harness import SPACE_SETTINGS, prepare, task_of

from nasforge.core.records import FAILED
from nasforge.estimate.base import EVALUATORS, IncompatibleError, RunContext
from nasforge.space.registry import SPACES
from nasforge.task import load_task

#: settings of each evaluator on each space (the files come from matrix_harness.prepare)
SETTINGS = {
    "train": lambda space, files: {"epochs": 1, "batch_size": 16},
    "tabular": lambda space, files: {},
    "proxy": lambda space, files: {"proxies": "synflow,params", "batch_size": 8},
    "supernet": lambda space, files: {"path": str(files[f"supernet-{space}"]), "calib_batches": 1,
                                      "batch_size": 8},
    "predictor": lambda space, files: (
        {"data": "benchmark:nb201-cifar10", "metric": "accuracy", "samples": 20} if space == "nb201" else
        {"data": "benchmark:macro", "metric": "accuracy", "samples": 20} if space == "macro" else
        {"data": str(files[f"measured-{space}"]), "metric": "val_accuracy"}),
    "lm-subnet": lambda space, files: {"path": str(files["tiny-llama"]), "eval_windows": 4, "latency_repeats": 1,
                                       "latency_warmup": 0},
}
#: the text task of the hf-lm space (language-model sub-networks score token windows)
TEXT_TASK = "stdlib:level=byte,context=16"
#: measured times, which differ between two evaluations of one architecture
TIMED = ("seconds", "latency_ms")
#: (evaluator, check) -> why it cannot pass
EXPECTED_FAILURES: dict[tuple[str, str], str] = {}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return prepare(tmp_path_factory.mktemp("evaluators"))


def space_of(name):
    settings = {k: yaml.safe_load(v) for k, _, v in (item.partition("=") for item in SPACE_SETTINGS[name])}
    return SPACES.get(name)(**SPACES.check_settings(name, settings))


def supported(evaluator, files):
    """The spaces ``evaluator`` accepts, and those it refuses (with their messages)."""
    cls = EVALUATORS.get(evaluator)
    ok, refused = [], {}
    for name in SPACE_SETTINGS:
        try:
            settings = cls.Settings.model_validate(SETTINGS[evaluator](name, files))
        except KeyError:  # no file for this space: the evaluator must refuse the space itself
            settings = cls.Settings.model_validate({**SETTINGS[evaluator]("nb201", files)})
        try:
            cls.check_space(space_of(name), settings)
            ok.append(name)
        except IncompatibleError as exc:
            refused[name] = str(exc)
    return ok, refused


def build(evaluator, space_name, files):
    cls = EVALUATORS.get(evaluator)
    settings = cls.Settings.model_validate(SETTINGS[evaluator](space_name, files))
    task = load_task(TEXT_TASK if space_name == "hf-lm" else task_of(space_name, files), seed=0)
    space = space_of(space_name)
    return cls, settings, space, cls.for_run(RunContext(space, task, 0), settings)


def test_every_evaluator_has_contract_settings():
    assert set(EVALUATORS.list()) == set(SETTINGS)


@pytest.mark.parametrize("evaluator", EVALUATORS.list())
def test_settings_refuse_unknown_names(evaluator):
    with pytest.raises(ValueError, match="extra"):
        EVALUATORS.get(evaluator).Settings.model_validate({"no_such_setting": 1})


@pytest.mark.parametrize("evaluator", EVALUATORS.list())
def test_supports_some_spaces_and_names_why_not_the_others(evaluator, files):
    ok, refused = supported(evaluator, files)
    assert ok, f"{evaluator} evaluates no space"
    for name, message in refused.items():
        assert message and len(message) > 20, (name, message)


@pytest.mark.parametrize("evaluator", EVALUATORS.list())
def test_reports_what_it_promises_and_is_deterministic(evaluator, files):
    ok, _ = supported(evaluator, files)
    for space_name in ok:
        cls, settings, space, ev = build(evaluator, space_name, files)
        arch = space.sample(np.random.default_rng(1))
        first, second = ev.evaluate(arch), ev.evaluate(arch)
        assert first.ok, (space_name, first.error)
        assert set(cls.reports(settings, space)) <= set(first.metrics), space_name
        untimed = {k: v for k, v in first.metrics.items() if not k.endswith(TIMED)}
        assert untimed == {k: v for k, v in second.metrics.items() if not k.endswith(TIMED)}, space_name
        for objective in cls.default_objectives(settings, space):
            assert objective.partition(":")[0] in first.metrics


@pytest.mark.parametrize("evaluator", EVALUATORS.list())
def test_pickles_for_worker_processes(evaluator, files):
    ok, _ = supported(evaluator, files)
    _, _, space, ev = build(evaluator, ok[0], files)
    arch = space.sample(np.random.default_rng(2))
    here = ev.evaluate(arch)
    there = pickle.loads(pickle.dumps(ev)).evaluate(arch)
    assert {k: v for k, v in here.metrics.items() if not k.endswith(TIMED)} == \
        {k: v for k, v in there.metrics.items() if not k.endswith(TIMED)}


@pytest.mark.parametrize("evaluator", EVALUATORS.list())
def test_a_bad_architecture_is_a_failed_result(evaluator, files):
    from nasforge.space.arch import Arch

    ok, _ = supported(evaluator, files)
    _, _, space, ev = build(evaluator, ok[0], files)
    arch = space.sample(np.random.default_rng(3))
    broken = Arch(arch.space, {k: "no-such-option" for k in arch.to_dict()}, "broken")
    result = ev.evaluate(broken)
    assert result.status == FAILED and result.error
