"""Optuna interop both ways: any Optuna sampler as a strategy (``optuna:SAMPLER``, through the
search and bench commands), and a run exported into an Optuna storage (``export-optuna``)."""

from __future__ import annotations

import csv
import sqlite3
import sys

import optuna
import pytest
from toys import toy_score, toy_space
from typer.testing import CliRunner

from nasforge.cli import app
from nasforge.core.objectives import Constraint, Objective
from nasforge.core.records import FAILED, RUNNING
from nasforge.core.registry import SettingsError, UnknownNameError
from nasforge.experiment.storage import Storage
from nasforge.report.data import read_run
from nasforge.run.optuna_export import export_optuna
from nasforge.space import Space
from nasforge.strategy.base import STRATEGIES, get_strategy
from nasforge.strategy.optuna_params import OptunaParams

OBJ = [Objective("score", "max")]
runner = CliRunner()


def drive(strategy, n, seed=0, objectives=OBJ, constraints=()):
    strategy.setup(toy_space(), objectives, constraints, seed)
    keys = []
    for _ in range(n):
        arch = strategy.ask()
        keys.append(arch.key)
        strategy.tell(arch, {"score": toy_score(arch), "size": float(sum(arch.values()))})
    return keys


# ------------------------------------------------------------------ samplers as strategies
USER_MODULE = '''
import optuna


class ChattySampler(optuna.samplers.RandomSampler):
    """A user's sampler with a setting of its own."""

    def __init__(self, seed=None, greeting: str = "hello"):
        super().__init__(seed=seed)
        self.greeting = greeting
'''


def test_a_sampler_is_named_three_ways(tmp_path, monkeypatch):
    (tmp_path / "my_samplers.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    short = drive(get_strategy("optuna:RandomSampler"), 12, seed=4)
    dotted = drive(get_strategy("optuna:optuna.samplers.RandomSampler"), 12, seed=4)
    user = get_strategy("optuna:my_samplers:ChattySampler", greeting="hi")
    assert short == dotted == drive(user, 12, seed=4)  # the user's class is a RandomSampler with the seed
    assert user._study.sampler.greeting == "hi"
    assert "my_samplers" in sys.modules
    assert "optuna:my_samplers:ChattySampler" in STRATEGIES and "optuna:NoSuchSampler" not in STRATEGIES


STUBBORN = '''
import optuna


class StubbornSampler(optuna.samplers.RandomSampler):
    """Always proposes the first option of every decision."""

    def sample_independent(self, study, trial, name, distribution):
        return distribution.choices[0]
'''


def test_repeats_are_answered_then_an_unseen_neighbour_is_proposed(tmp_path, monkeypatch):
    (tmp_path / "stubborn.py").write_text(STUBBORN)
    monkeypatch.syspath_prepend(str(tmp_path))
    strategy = get_strategy("optuna:stubborn:StubbornSampler", max_repeats=3)
    strategy.setup(toy_space(), OBJ, (), 0)
    first = strategy.ask()
    assert dict(first) == {f"x{i}": 0 for i in range(4)}
    strategy.tell(first, {"score": toy_score(first)})
    second = strategy.ask()  # three repeats told the known result, then a neighbour of the repeat
    assert sum(second[k] != first[k] for k in first) == 1
    trials = strategy._study.trials
    assert len(trials) == 4 and all(t.values == [toy_score(first)] for t in trials)
    strategy.tell(second, {"score": toy_score(second)})
    added = strategy._study.trials[-1]  # the sampler learns the neighbour's result like any other
    assert len(strategy._study.trials) == 5 and added.params == dict(second)
    assert added.values == [toy_score(second)]


def test_the_run_seed_reaches_the_sampler():
    """The adapter's asks are the sampler's own draws under the run's seed."""
    strategy = get_strategy("optuna:RandomSampler")
    keys = drive(strategy, 8, seed=11)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=11))
    dists = OptunaParams(toy_space()).distributions
    expected = [toy_space().arch(study.ask(dists).params).key for _ in range(8)]
    assert keys == expected


@pytest.mark.parametrize("name, words", [
    ("optuna:NoSuchSampler", ["has no 'NoSuchSampler'", "GPSampler", "NSGAIISampler"]),
    ("optuna:os.path:join", ["is not an Optuna sampler"]),
    ("optuna:no_such_pkg.mod:Sampler", ["cannot import module 'no_such_pkg.mod'"]),
    ("optuna:1bad", ["expected optuna:SAMPLER"]),
])
def test_bad_sampler_names_say_what_is_wrong(name, words):
    with pytest.raises(UnknownNameError) as info:
        STRATEGIES.canonical(name)
    for word in words:
        assert word in str(info.value)


def test_unknown_names_mention_optuna_samplers():
    with pytest.raises(UnknownNameError, match="optuna:SAMPLER"):
        STRATEGIES.canonical("gp")


def test_settings_are_checked_against_the_sampler_signature():
    with pytest.raises(SettingsError) as info:
        STRATEGIES.check_settings("optuna:GPSampler", {"n_startup": 3})
    assert "'n_startup'" in str(info.value) and "n_startup_trials" in str(info.value)
    assert "deterministic_objective" in str(info.value)
    with pytest.raises(SettingsError, match="seed"):  # the run's seed, never a setting
        STRATEGIES.check_settings("optuna:GPSampler", {"seed": 3})
    with pytest.raises(SettingsError, match="n_startup_trials='many'"):
        STRATEGIES.check_settings("optuna:GPSampler", {"n_startup_trials": "many"})
    assert STRATEGIES.check_settings("optuna:NSGAIISampler", {"population_size": "8"}) == {"population_size": 8}
    strategy = get_strategy("optuna:NSGAIISampler", population_size=6, ordered=True)
    drive(strategy, 3)
    assert strategy._study.sampler._population_size == 6


def test_a_sampler_that_cannot_be_built_says_why():
    with pytest.raises(ValueError, match="'optuna:GridSampler': cannot build the sampler: .*search_space"):
        get_strategy("optuna:GridSampler").setup(toy_space(), OBJ, (), 0)
    with pytest.raises(ValueError, match="'optuna:QMCSampler': cannot build the sampler: .*qmc_type"):
        get_strategy("optuna:QMCSampler", qmc_type="nope").setup(toy_space(), OBJ, (), 0)


def test_a_single_objective_sampler_is_refused_for_several_objectives():
    strategy = get_strategy("optuna:CmaEsSampler")
    with pytest.raises(ValueError, match="'optuna:CmaEsSampler' cannot search 2 objectives"):
        strategy.setup(toy_space(), [Objective("score", "max"), Objective("size", "min")], (), 0)


def test_several_objectives_reach_the_study_as_directions():
    strategy = get_strategy("optuna:NSGAIISampler", population_size=4)
    drive(strategy, 10, objectives=[Objective("score", "max"), Objective("size", "min")])
    study = strategy._study
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert done and all(len(t.values) == 2 for t in done)


def test_a_missing_optional_package_is_named(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "cmaes" else real(name, *a))
    with pytest.raises(ValueError, match="needs the package 'cmaes'"):
        get_strategy("optuna:CmaEsSampler").setup(toy_space(), OBJ, (), 0)


def test_constraints_reach_samplers_that_take_them():
    strategy = get_strategy("optuna:NSGAIISampler", population_size=4)
    drive(strategy, 6, constraints=[Constraint.parse("size<=6")])
    assert strategy._study.sampler._constraints_func is not None
    violations = [t.system_attrs.get("constraints") for t in strategy._study.trials]
    assert all(v is not None for v in violations) and any(v[0] > 0 for v in violations)


def test_tpe_is_optuna_tpe_sampler():
    assert drive(get_strategy("tpe"), 25, seed=2) == drive(get_strategy("optuna:TPESampler", max_repeats=100), 25,
                                                           seed=2)


def test_ordered_encoding_of_numeric_decisions():
    space = Space({"width": [8, 16, 24], "ch": [16, 64, 32], "op": ["a", "b"], "lr": [0.1, 0.01]}, name="enc")
    ordered = OptunaParams(space, ordered=True).distributions
    assert (ordered["width"].low, ordered["width"].high, ordered["width"].step) == (8, 24, 8)
    assert (ordered["ch"].low, ordered["ch"].high) == (0, 2)  # ranks of 16 < 32 < 64
    assert type(ordered["op"]).__name__ == "CategoricalDistribution"
    assert (ordered["lr"].low, ordered["lr"].high) == (0, 1)
    assert all(type(d).__name__ == "CategoricalDistribution" for d in OptunaParams(space).distributions.values())
    codec = OptunaParams(space, ordered=True)
    for arch in space.enumerate():
        params = codec.params(arch)
        assert params["ch"] == sorted([16, 32, 64]).index(arch["ch"])
        assert space.arch(codec.values(params)) == arch


def test_a_search_runs_an_optuna_sampler_and_resumes(tmp_path):
    run = tmp_path / "gp"
    args = ["search", "--space", "nb201", "--evaluator", "tabular", "--strategy", "optuna:NSGAIISampler",
            "-S", "population_size=4", "--trials", "6", "--seed", "3", "--out", str(run)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert len(read_run(run).trials) == 6
    first = [t.arch.key for t in read_run(run).trials]
    config = run / "config.yaml"  # a larger budget may always change on resume
    config.write_text(config.read_text().replace("  trials: 6\n", "  trials: 10\n"))
    result = runner.invoke(app, ["resume", str(run)])
    assert result.exit_code == 0, result.output
    keys = [t.arch.key for t in read_run(run).trials]
    assert keys[:6] == first and len(keys) == 10 == len(set(keys))
    fresh = tmp_path / "fresh"  # the resumed run asked what an uninterrupted one asks
    assert runner.invoke(app, [*args[:-6], "--trials", "10", "--seed", "3", "--out", str(fresh)]).exit_code == 0
    assert [t.arch.key for t in read_run(fresh).trials] == keys


def test_search_refuses_bad_optuna_settings_before_anything_runs(tmp_path):
    base = ["search", "--space", "macro", "--evaluator", "tabular", "--trials", "4"]
    result = runner.invoke(app, [*base, "--strategy", "optuna:GPSampler", "-S", "n_startup=2",
                                 "--out", str(tmp_path / "a")])
    assert result.exit_code == 2 and "n_startup_trials" in result.output
    result = runner.invoke(app, [*base, "--strategy", "optuna:CmaEsSampler", "--objective", "accuracy:max",
                                 "--objective", "flops:min", "--out", str(tmp_path / "b")])
    assert result.exit_code == 2 and "cannot search 2 objectives" in result.output
    result = runner.invoke(app, [*base, "--strategy", "optuna:Nope", "--out", str(tmp_path / "c")])
    assert result.exit_code == 2 and "has no 'Nope'" in result.output and "GPSampler" in result.output
    assert not any((tmp_path / d).exists() for d in "abc")


@pytest.mark.parametrize("command", ["search", "bench"])
def test_help_names_the_optuna_prefix(command):
    output = runner.invoke(app, [command, "--help"], env={"COLUMNS": "400", "TERMINAL_WIDTH": "400"}).output
    text = " ".join(output.replace("│", " ").split())
    assert "optuna:SAMPLER (any Optuna sampler" in text


def test_bench_runs_optuna_samplers_beside_nasforge_strategies(tmp_path):
    out = tmp_path / "bench"
    result = runner.invoke(app, ["bench", "--benchmarks", "nb201-cifar10", "--strategies",
                                 "random,optuna:NSGAIISampler,optuna:GPSampler", "--seeds", "1", "--queries", "12",
                                 "--workers", "1", "-S", "optuna:NSGAIISampler.population_size=4",
                                 "-S", "optuna:GPSampler.n_startup_trials=8", "--out", str(out)])
    assert result.exit_code == 0, result.output
    with open(out / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["strategy"] for r in rows} == {"random", "optuna:NSGAIISampler", "optuna:GPSampler"}
    assert all(float(r["mean_regret"]) >= 0 for r in rows)
    result = runner.invoke(app, ["bench", "--strategies", "random,optuna:Nope", "--seeds", "1", "--queries", "2",
                                 "--out", str(tmp_path / "bad")])
    assert result.exit_code == 2 and "has no 'Nope'" in result.output


# ---------------------------------------------------------------------- export to Optuna
@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tabular run with a constraint (some trials infeasible), one failed trial and one that was
    still running when the run stopped."""
    run = tmp_path_factory.mktemp("export") / "run"
    result = runner.invoke(app, ["search", "--space", "macro", "--evaluator", "tabular", "--strategy", "random",
                                 "--objective", "accuracy:max", "--objective", "flops:min",
                                 "--constraint", "flops<=6e7", "--trials", "12", "--out", str(run)])
    assert result.exit_code == 0, result.output
    storage = Storage(run / "trials.db")
    arch = read_run(run).trials[0].arch
    number = storage.add_trial(arch)
    storage.finish_trial(number, FAILED, {}, "RuntimeError: out of memory", 1.5)
    storage.add_trial(read_run(run).trials[1].arch)  # running
    storage.close()
    return run


def test_exported_study_loads_with_the_same_trials_params_and_values(run_dir, tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    done = export_optuna(run_dir, url, "macro-run")
    records = read_run(run_dir)
    study = optuna.load_study(study_name="macro-run", storage=url)
    assert done.trials == len(records.trials) == len(study.trials) == 14
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert study.metric_names == ["accuracy", "flops"]
    for trial, ours in zip(study.trials, sorted(records.trials, key=lambda t: t.number), strict=True):
        assert trial.user_attrs["arch"] == ours.arch.key
        assert trial.params == dict(ours.arch)
        if ours.status == FAILED:
            assert trial.state == optuna.trial.TrialState.FAIL
            assert "out of memory" in trial.user_attrs["error"]
        elif ours.status == RUNNING:
            assert trial.state == optuna.trial.TrialState.RUNNING and trial.values is None
        else:
            assert trial.state == optuna.trial.TrialState.COMPLETE
            assert trial.values == [ours.metrics["accuracy"], ours.metrics["flops"]]
            assert trial.user_attrs["metrics"] == dict(ours.metrics)
            feasible = ours.metrics["flops"] <= 6e7
            assert (trial.system_attrs["constraints"][0] <= 0) == feasible
    assert {t.state.name for t in study.trials} == {"COMPLETE", "FAIL", "RUNNING"}
    assert any(t.system_attrs["constraints"][0] > 0 for t in study.trials if t.state.name == "COMPLETE")
    assert study.user_attrs["strategy"] == "random"
    assert len(study.best_trials) >= 1  # Optuna reads the values as a Pareto front


def test_export_refuses_to_overwrite_a_study_unless_asked(run_dir, tmp_path):
    import nasforge

    url = f"sqlite:///{tmp_path / 'study.db'}"
    nasforge.export_optuna(run_dir, url)  # the package face's function is this one
    name = f"nasforge-{run_dir.name}"
    with pytest.raises(ValueError, match="already exists"):
        export_optuna(run_dir, url)
    export_optuna(run_dir, url, overwrite=True)
    assert len(optuna.load_study(study_name=name, storage=url).trials) == 14  # replaced, not doubled
    with sqlite3.connect(tmp_path / "study.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM studies").fetchone()[0] == 1


def test_export_optuna_command(run_dir, tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    result = runner.invoke(app, ["export-optuna", str(run_dir), "--storage", url, "--study-name", "s"])
    assert result.exit_code == 0, result.output
    assert "exported 14 trials (12 complete, 1 fail, 1 running) as study 's'" in result.output
    assert len(optuna.load_study(study_name="s", storage=url).trials) == 14
    again = runner.invoke(app, ["export-optuna", str(run_dir), "--storage", url, "--study-name", "s"])
    assert again.exit_code == 2 and "already exists" in again.output
    bad = runner.invoke(app, ["export-optuna", str(run_dir), "--storage", "study.db"])
    assert bad.exit_code == 2 and "database URL" in bad.output
    missing = runner.invoke(app, ["export-optuna", str(tmp_path / "nope"), "--storage", url])
    assert missing.exit_code == 2


def test_export_of_a_run_whose_space_is_not_registered(run_dir, tmp_path):
    """A space given as a Python object is not registered: each decision becomes a categorical of
    the values the run's trials took."""
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    config = copy / "config.yaml"
    config.write_text(config.read_text().replace("space: macro", "space: mine"))
    url = f"sqlite:///{tmp_path / 'study.db'}"
    export_optuna(copy, url, "mine")
    study = optuna.load_study(study_name="mine", storage=url)
    seen = {t.params["layer_0"] for t in study.trials}
    assert set(study.trials[0].distributions["layer_0"].choices) == seen
    assert [t.params for t in study.trials] == [dict(t.arch) for t in sorted(read_run(run_dir).trials,
                                                                             key=lambda t: t.number)]
