"""The ``given`` strategy: a fixed list of architectures, in order, then ``None``.

``nasforge.strategy.given`` is imported inside the tests, not at collection: the contract
suite lists ``STRATEGIES`` when it is collected and again in a fresh process, and the two
lists must agree.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from toys import ToyEvaluator, toy_space

from nasforge.core.objectives import Objective
from nasforge.experiment.budget import Budget
from nasforge.experiment.experiment import Experiment
from nasforge.experiment.storage import Storage

OBJ = [Objective("score", "max")]
KEYS = ["toy:x0=3,x1=0,x2=1,x3=2", "x0=0,x1=0,x2=0,x3=0", "toy:x0=1,x1=2,x2=3,x3=0"]


def given(**settings):
    from nasforge.strategy.given import GivenArchs

    return GivenArchs(**settings)


def asks(strategy, space=None, n: int = 100) -> list[str]:
    strategy.setup(space or toy_space(), OBJ, (), 0)
    out = []
    for _ in range(n):
        arch = strategy.ask()
        if arch is None:
            break
        out.append(arch.key)
        strategy.tell(arch, {"score": 0.0})
    return out


def test_proposes_the_list_in_order_then_none():
    s = given(archs=KEYS)
    assert asks(s) == ["toy:x0=3,x1=0,x2=1,x3=2", "toy:x0=0,x1=0,x2=0,x3=0", "toy:x0=1,x1=2,x2=3,x3=0"]
    assert s.ask() is None
    assert s.get_params() == {"archs": KEYS}


def test_a_repeated_key_is_proposed_once_at_its_first_place():
    assert asks(given(archs=[KEYS[0], KEYS[1], KEYS[0], "toy:" + KEYS[1]])) == [KEYS[0], "toy:" + KEYS[1]]


def test_seed_and_results_do_not_change_the_order():
    a, b = given(archs=KEYS), given(archs=KEYS)
    a.setup(toy_space(), OBJ, (), 0)
    b.setup(toy_space(), OBJ, (), 99)
    first, second = a.ask(), b.ask()
    a.tell(first, None)  # a failed result
    b.tell(second, {"score": 5.0})
    assert [first.key, a.ask().key] == [second.key, b.ask().key]


def test_default_is_every_architecture_in_enumeration_order():
    space = toy_space(options=2, decisions=3)
    assert asks(given(), space) == [a.key for a in space.enumerate()]


def test_default_enumerates_a_large_space_as_it_is_asked():
    space = toy_space(options=10, decisions=9)  # a billion combinations
    assert asks(given(), space, n=3) == ["toy:x0=0,x1=0,x2=0,x3=0,x4=0,x5=0,x6=0,x7=0,x8=" + str(i) for i in range(3)]


def test_refuses_keys_of_another_space_or_not_parsing():
    with pytest.raises(ValueError, match="architecture of space 'nb201', not of 'toy'"):
        given(archs=["nb201:|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"]).setup(toy_space(), OBJ)
    with pytest.raises(ValueError, match="not an architecture key of space 'toy'"):
        given(archs=["toy:x0=9,x1=0,x2=0,x3=0"]).setup(toy_space(), OBJ)
    with pytest.raises(ValueError, match="strings"):
        given(archs=[3]).setup(toy_space(), OBJ)


def test_a_single_key_is_a_list_of_one():
    assert asks(given(archs=KEYS[0])) == [KEYS[0]]


def test_an_experiment_evaluates_the_list_and_resumes_it(tmp_path):
    keys = [a.key for a in list(toy_space().enumerate())[::-7]]

    def run(trials):
        storage = Storage(tmp_path / "trials.db")
        try:
            return Experiment(toy_space(), given(archs=keys), ToyEvaluator(), storage, OBJ,
                              Budget(trials=trials)).run()
        finally:
            storage.close()

    run(5)
    trials = run(100)  # resumed: the replayed asks put the list back at its sixth key
    assert [t.arch.key for t in trials] == keys
    assert all(t.status == "complete" for t in trials)


def test_the_callback_sees_the_evaluators_info():
    seen = []
    Experiment(toy_space(), given(archs=KEYS), ToyEvaluator(fail_every=2), Storage(":memory:"), OBJ,
               Budget(trials=3), callbacks=[lambda e, t: seen.append((t.status, dict(t.info)))]).run()
    assert [s for s, _ in seen] == ["complete", "failed", "complete"]
    assert seen[1][1]["reason"] == "exception" and "deliberate failure" in seen[1][1]["traceback"]


def test_registered_by_name_without_importing_it():
    code = "from nasforge.strategy.base import STRATEGIES; print('given' in STRATEGIES.list())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
