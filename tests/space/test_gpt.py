"""The ``gpt`` space: keys, inactive layers, exact params/FLOPs, causality, the leading-slice layout."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nasforge.hardware.metrics import TaskShape, count_flops, count_params
from nasforge.space import get_space

VOCAB, CONTEXT, HEAD_DIM = 96, 64, 16


def hand_count(embed: int, layers: list[tuple[int, int]]) -> tuple[int, int]:
    """(params, FLOPs of one sequence of CONTEXT tokens) by formula; one multiply-add = 2 FLOPs."""
    e, t, v = embed, CONTEXT, VOCAB
    params = v * e + t * e + 2 * e + e * v  # token and position embeddings, final LayerNorm, LM head (no bias)
    flops = 2 * t * e * v  # the LM head
    for heads, ratio in layers:
        inner, hidden = heads * HEAD_DIM, ratio * e
        params += 4 * e  # two LayerNorms
        params += 3 * (e * inner + inner) + inner * e + e  # q, k, v and the output projection
        params += e * hidden + hidden + hidden * e + e  # the MLP
        flops += 2 * t * (3 * e * inner + inner * e + 2 * e * hidden)  # the linears
        flops += 2 * 2 * t * t * inner  # attention: q @ k^T and weights @ v, over all T x T pairs
    return params, flops


@pytest.mark.parametrize("key", ["e64|h4r2,h1r4", "e32|h1r1", "e48|h2r4,h4r1,h1r2,h2r2"])
def test_params_and_flops_match_a_hand_count(key):
    space = get_space("gpt")
    arch = space.parse(key)
    model = space.build(arch, TaskShape((CONTEXT,), VOCAB))
    layers = [(int(arch[f"heads_{i}"]), int(arch[f"mlp_ratio_{i}"])) for i in range(int(arch["depth"]))]
    params, flops = hand_count(int(arch["embed"]), layers)
    assert count_params(model) == params
    assert count_flops(model, (CONTEXT,)) == flops
    if key == "e64|h4r2,h1r4":
        assert (params, flops) == (87_536, 11_010_048)  # the numbers written out once


def test_keys_and_inactive_layers():
    space = get_space("gpt")
    arch = space.parse("gpt:e48|h2r4")
    assert arch.key == "gpt:e48|h2r4" and arch["depth"] == 1
    assert arch["heads_3"] == 1 and arch["mlp_ratio_3"] == 1  # inactive layers take the first option
    same = space.arch({**arch.to_dict(), "heads_2": 4})
    assert same.key == arch.key
    assert len(space.choices) == 2 + 2 * 4
    for bad in ("e48", "e48|h3r4", "e48|h2r4,h2r4,h2r4,h2r4,h2r4", "e40|h2r4", "x48|h2r4"):
        with pytest.raises(ValueError, match="not an architecture key|is not an option of"):
            space.parse(bad)


def test_network_is_causal_and_refuses_wrong_inputs():
    space = get_space("gpt")
    model = space.build(space.parse("e32|h2r2,h4r1"), TaskShape((16,), 20)).eval()
    x = torch.randint(0, 20, (3, 16), generator=torch.Generator().manual_seed(0))
    changed = x.clone()
    changed[:, 10:] = (changed[:, 10:] + 1) % 20
    with torch.no_grad():
        a, b = model(x), model(changed)
        assert model(x[:, :5]).shape == (3, 5, 20)  # shorter than the context is fine
    assert a.shape == (3, 16, 20)
    assert torch.allclose(a[:, :10], b[:, :10], atol=1e-6)  # later tokens never reach earlier positions
    assert not torch.allclose(a[:, 10:], b[:, 10:])
    with pytest.raises(TypeError, match="int64 token ids"):
        model(torch.zeros(2, 16))
    with pytest.raises(ValueError, match="length <= 16"):
        model(torch.zeros(2, 17, dtype=torch.long))
    with pytest.raises(ValueError, match=r"input shape \(1, 40\)"):
        space.build(space.parse("e32|h1r1"), TaskShape((1, 40), 10))


def test_layer_layout_is_leading_slices():
    """The largest layer's weights hold a smaller layer's as leading slices (the supernet convention)."""
    space = get_space("gpt")
    big = space.build(space.parse("e64|h4r4"), TaskShape((8,), 30))
    small = space.build(space.parse("e32|h2r2"), TaskShape((8,), 30))
    for (name, w_big), (other, w_small) in zip(big.state_dict().items(), small.state_dict().items(), strict=True):
        assert name == other
        assert all(s <= b for s, b in zip(w_small.shape, w_big.shape, strict=True)), name
    block = small.blocks[0]
    assert block.attn.q.weight.shape == (2 * HEAD_DIM, 32) and block.mlp.fc1.weight.shape == (64, 32)


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="max_depth"):
        get_space("gpt", max_depth=0)
    with pytest.raises(ValueError, match="heads"):
        get_space("gpt", heads=(0, 2))


def test_sampled_networks_build():
    space = get_space("gpt")
    rng = np.random.default_rng(0)
    for _ in range(5):
        model = space.build(space.sample(rng), TaskShape((CONTEXT,), VOCAB))
        assert count_params(model) < 400_000


def test_every_static_cost_metric_measures_a_language_model():
    """Token ids, not floats, reach the network in every measurement (space.inputs.example_input)."""
    from nasforge.hardware.metrics import STATIC_METRICS, hardware_metrics

    space = get_space("gpt")
    assert (space.default_input_shape, space.default_num_classes) == ((CONTEXT,), VOCAB)  # stdlib's
    model = space.build(space.parse("e32|h1r1"), TaskShape(space.default_input_shape, space.default_num_classes))
    metrics = hardware_metrics(model, (CONTEXT,), STATIC_METRICS)
    linear_macs = hand_count(32, [(1, 1)])[1] // 2 - 2 * CONTEXT * CONTEXT * HEAD_DIM  # attention is no layer
    assert metrics["bitops"] == linear_macs * 32 * 32 and metrics["memory_mb"] > 0
    assert metrics["model_bytes"] == 4 * count_params(model)
