"""NAS-Bench-201 space: keys are the benchmark's strings; networks have its exact sizes."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from nasforge.core.paths import MissingDataError, data_file
from nasforge.hardware.metrics import TaskShape, count_flops, count_params
from nasforge.space import get_space

CIFAR10 = TaskShape((3, 32, 32), 10)
CIFAR100 = TaskShape((3, 32, 32), 100)
EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def uniform(space, op):
    return space.arch({c.name: op for c in space.choices})


def test_exact_parameter_counts_equal_the_benchmark():
    # The NAS-Bench-201 / NATS-Bench API reports params in millions: 0.073306 (smallest cell)
    # and 1.531546 (all nor_conv_3x3) on CIFAR-10, 0.079156 and 1.537396 on CIFAR-100. Our
    # counts include every nn.Parameter, i.e. conv weights (no conv biases), BatchNorm weight
    # and bias (affine=True) and the classifier's weight and bias; BN running statistics are
    # buffers and, as in the benchmark, not counted. All-skip: stem 464 + reductions 14,464 +
    # 57,600 + last BN 128 + classifier 650 = 73,306; each 3x3 edge adds 9C^2 + 2C.
    space = get_space("nb201")
    expected = {("skip_connect", 10): 73_306, ("nor_conv_3x3", 10): 1_531_546,
                ("skip_connect", 100): 79_156, ("nor_conv_3x3", 100): 1_537_396,
                ("none", 10): 73_306, ("avg_pool_3x3", 10): 73_306, ("nor_conv_1x1", 10): 241_306}
    for (op, classes), params in expected.items():
        model = space.build(uniform(space, op), TaskShape((3, 32, 32), classes))
        assert count_params(model) == params, (op, classes)


def test_macs_equal_the_benchmark_flops_less_the_classifier_bias():
    # The benchmark lists 7.78305 and 220.11969 MFLOPs (multiply-adds, plus one per classifier
    # bias: 10). torch counts 2 FLOPs per multiply-add and nothing for the bias.
    space = get_space("nb201")
    assert count_flops(space.build(uniform(space, "skip_connect"), CIFAR10), (3, 32, 32)) // 2 == 7_783_040
    assert count_flops(space.build(uniform(space, "nor_conv_3x3"), CIFAR10), (3, 32, 32)) // 2 == 220_119_680


def test_key_round_trip_over_the_whole_benchmark_table():
    try:
        path = data_file("nb201-tss-accuracy.csv", "the NAS-Bench-201 round-trip test")
    except MissingDataError as exc:
        pytest.skip(str(exc))
    with path.open() as handle:
        strings = [row["ArchitectureString"] for row in csv.DictReader(handle)]
    space = get_space("nb201")
    keys = {space.parse(s).body for s in strings}
    assert len(strings) == 15_625 and keys == set(strings)
    assert {a.body for a in space.enumerate()} == keys


def test_example_key_and_bad_strings():
    space = get_space("nb201")
    arch = space.parse(EXAMPLE)
    assert arch.key == f"nb201:{EXAMPLE}"
    assert arch["edge_2_1"] == "avg_pool_3x3" and arch["edge_3_2"] == "skip_connect"
    for bad in ["|nor_conv_3x3~0|+|nor_conv_3x3~0|", "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|"]:
        with pytest.raises(ValueError, match="not an architecture key"):
            space.parse(bad)


def test_network_is_the_chain_of_its_blocks():
    space = get_space("nb201")
    arch = space.parse(EXAMPLE)
    blocks = space.blocks(arch, CIFAR10)
    assert len(blocks) == 1 + 15 + 2 + 1
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        for spec in blocks:
            assert tuple(x.shape[1:]) == spec.input_shape
            x = spec.build().eval()(x)
            assert tuple(x.shape[1:]) == spec.output_shape
    model = space.build(arch, CIFAR100)
    assert count_params(model) == sum(count_params(b.build()) for b in space.blocks(arch, CIFAR100))


def test_all_none_cell_and_other_inputs_run():
    space = get_space("nb201")
    for arch, shape in [(uniform(space, "none"), (3, 32, 32)), (space.sample(np.random.default_rng(0)), (1, 15, 17))]:
        model = space.build(arch, TaskShape(shape, 5)).eval()
        with torch.no_grad():
            assert model(torch.randn(2, *shape)).shape == (2, 5)
