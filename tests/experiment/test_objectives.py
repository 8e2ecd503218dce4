import math

import numpy as np
import pytest

from nasforge.core.objectives import Constraint, Objective, check_objectives
from nasforge.core.pareto import hypervolume, non_dominated, rank_order


def test_parse_objectives_and_constraints():
    assert Objective.parse("val_accuracy:max") == Objective("val_accuracy", "max")
    assert Objective.parse("params:min").loss(10) == 10
    c = Constraint.parse("params<=20_000")
    assert (c.metric, c.op, c.bound) == ("params", "<=", 20000)
    assert c.satisfied({"params": 20000}) and not c.satisfied({"params": 20001})
    assert c.violation({"params": 30000}) == pytest.approx(0.5, rel=1e-6)
    assert math.isinf(c.violation({}))


@pytest.mark.parametrize("text", ["params=<5", "params<=abc", "<=5", ""])
def test_bad_constraints_say_what_is_expected(text):
    with pytest.raises(ValueError, match="expected|not a number"):
        Constraint.parse(text)


def test_contradictory_objectives_are_refused():
    with pytest.raises(ValueError, match="contradictory"):
        check_objectives([Objective("acc", "max"), Objective("acc", "min")])
    with pytest.raises(ValueError, match="at least one"):
        check_objectives([])
    with pytest.raises(ValueError, match="direction"):
        Objective.parse("acc:up")


def test_non_dominated_and_rank_order():
    losses = np.array([[0, 3], [1, 1], [3, 0], [2, 2], [4, 4]], float)
    assert list(non_dominated(losses)) == [0, 1, 2]
    objs = [Objective("a", "min"), Objective("b", "min")]
    metrics = [dict(a=a, b=b, c=0.0) for a, b in losses] + [None, {"a": 0.0, "b": 0.0, "c": 9.0}]
    order = rank_order(metrics, objs, [Constraint("c", "<=", 1)])
    assert set(order[:3]) == {0, 1, 2}
    assert list(order[3:]) == [3, 4, 6, 5]  # then dominated, then infeasible, then failed


def test_hypervolume():
    assert hypervolume(np.array([[0.0, 0.0]]), [1, 1]) == pytest.approx(1.0)
    assert hypervolume(np.array([[0.5, 0.0], [0.0, 0.5]]), [1, 1]) == pytest.approx(0.75)
    assert hypervolume(np.array([[2.0, 2.0]]), [1, 1]) == 0.0
