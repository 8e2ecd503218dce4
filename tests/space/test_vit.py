"""The ``vit`` space: keys, inactive blocks, hand-counted params and FLOPs, refused image sizes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nasforge.hardware.metrics import TaskShape, count_flops, count_params
from nasforge.space import get_space
from nasforge.space.vit import ViTSpace, mlp_hidden

CIFAR = TaskShape((3, 32, 32), 10)


def hand_count(c: int, side: int, embed: int, patch: int, blocks: list[tuple[int, float]], classes: int,
               head_dim: int = 16, cls: bool = False) -> tuple[int, int]:
    """(params, FLOPs at 2 per multiply-add) of a ViT, counted from the architecture by hand."""
    tokens = (side // patch) ** 2
    seq = tokens + int(cls)
    params = c * patch * patch * embed + embed + seq * embed + int(cls) * embed
    flops = 2 * tokens * c * patch * patch * embed
    for heads, ratio in blocks:
        inner, hidden = heads * head_dim, mlp_hidden(embed, ratio)
        params += 2 * embed + (embed * 3 * inner + 3 * inner) + (inner * embed + embed)
        params += 2 * embed + (embed * hidden + hidden) + (hidden * embed + embed)
        flops += 2 * seq * embed * 3 * inner            # q, k, v
        flops += 2 * 2 * heads * seq * seq * head_dim    # q k^T and (attention) v
        flops += 2 * seq * inner * embed                 # output projection
        flops += 2 * 2 * seq * embed * hidden            # the MLP's two layers
    params += 2 * embed + embed * classes + classes
    flops += 2 * embed * classes
    return params, flops


@pytest.mark.parametrize("key, cls", [("e48p4|h2r4,h4r2", False), ("e32p8|h1r3", False),
                                       ("e64p4|h4r2,h1r4,h2r3,h4r4", True)])
def test_params_and_flops_match_a_hand_count(key, cls):
    space = ViTSpace(pool="cls" if cls else "mean")
    arch = space.parse(key)
    model = space.build(arch, CIFAR)
    blocks = [(int(arch[f"heads_{i}"]), arch[f"mlp_ratio_{i}"]) for i in range(int(arch["depth"]))]
    params, flops = hand_count(3, 32, int(arch["embed"]), int(arch["patch"]), blocks, 10, cls=cls)
    assert count_params(model) == params
    assert count_flops(model, (3, 32, 32)) == flops


def test_blocks_beyond_depth_are_inactive_and_keys_are_readable():
    space = get_space("vit")
    arch = space.parse("e48p4|h2r4,h4r2")
    assert arch.key == "vit:e48p4|h2r4,h4r2"
    assert (arch["depth"], arch["heads_1"], arch["mlp_ratio_1"]) == (2, 4, 2)
    # a deeper block's decisions do not matter: canonical archs reset them
    other = space.arch({**arch.to_dict(), "heads_3": 4, "mlp_ratio_3": 4})
    assert other == arch
    assert all(n.key != arch.key for n in space.neighbours(arch))
    assert len(space.blocks(arch, CIFAR)) == 2 + 2  # patch embedding, two blocks, head


def test_networks_of_one_space_differ_in_cost_and_run_on_digits():
    space = get_space("vit")
    archs = space.sample_distinct(8, 0)
    sizes = {count_params(space.build(a, CIFAR)) for a in archs}
    assert len(sizes) > 4
    digits = TaskShape((1, 8, 8), 10)
    model = space.build(space.parse("e32p4|h2r2"), digits).eval()
    with torch.no_grad():
        assert model(torch.randn(3, 1, 8, 8)).shape == (3, 10)


def test_image_sizes_a_patch_does_not_divide_are_refused_with_the_shape():
    space = get_space("vit")
    arch = space.sample(np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"patch size\(s\) \[8\].*28x28.*\(1, 28, 28\).*patch_sizes='\[4, 7\]'"):
        space.build(arch, TaskShape((1, 28, 28), 10))
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        space.build(arch, TaskShape((1, 40), 10))
    # the fix the message gives works
    fixed = ViTSpace(patch_sizes=(4, 7))
    assert fixed.build(fixed.sample(np.random.default_rng(0)), TaskShape((1, 28, 28), 10)) is not None


def test_bad_settings_and_keys_are_refused():
    with pytest.raises(ValueError, match="pool"):
        ViTSpace(pool="max")
    with pytest.raises(ValueError, match="embed_dims"):
        ViTSpace(embed_dims=())
    with pytest.raises(ValueError, match="not an architecture key"):
        get_space("vit").parse("e48p4|h3r4")
    with pytest.raises(ValueError, match="not an architecture key"):
        get_space("vit").parse("e48p4")


def test_heads_are_leading_slices_of_one_qkv_layout():
    """The documented weight layout: a model with fewer heads equals a larger one whose extra
    heads' rows are cut away (what an entangled supernet slices)."""
    torch.manual_seed(0)
    from nasforge.space.vit_model import Attention

    big, small = Attention(32, 4, 16), Attention(32, 2, 16)
    keep = torch.cat([torch.arange(p * 64, p * 64 + 32) for p in range(3)])  # q, k, v: first 2 heads each
    with torch.no_grad():
        small.qkv.weight.copy_(big.qkv.weight[keep])
        small.qkv.bias.copy_(big.qkv.bias[keep])
        small.proj.weight.copy_(big.proj.weight[:, :32])
        small.proj.bias.copy_(big.proj.bias)
        x = torch.randn(2, 5, 32)
        # zero the dropped heads' value rows and output columns: their contribution vanishes
        big.qkv.weight[128 + 32:].zero_()
        big.qkv.bias[128 + 32:].zero_()
        big.proj.weight[:, 32:].zero_()
        assert torch.allclose(big(x), small(x), atol=1e-6)
