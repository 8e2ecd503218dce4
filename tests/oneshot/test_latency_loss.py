"""ProxylessNAS's expected-latency loss on every space (``nasforge.oneshot.latency``): the models
agree with the latency table they come from, their expectation is the table's latency at
one-hot probabilities, and a larger latency weight derives a faster architecture."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from oneshot_toys import tiny_spaces, tiny_task

from nasforge.hardware.latency import LatencySettings
from nasforge.hardware.table import LatencyTable
from nasforge.oneshot.base import get_method
from nasforge.oneshot.latency import from_dict, latency_model
from nasforge.oneshot.supernet import SUPERNETS, build_supernet

FAST = LatencySettings(warmup=1, repeats=3, clock="cpu")


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    """One latency table file per space, shared by every test here (as runs meant to be compared share one)."""
    return {name: str(tmp_path_factory.mktemp("lut") / f"{name}.json") for name in ("macro", "mbconv")}


def _one_hot(supernet, arch):
    with torch.no_grad():
        supernet.alphas.fill_(-1e4)
        for i, choice in enumerate(supernet.space.choices):
            supernet.alphas[i, choice.options.index(arch[choice.name])] = 0.0


@pytest.mark.parametrize("name", ["macro", "mbconv"])
def test_layer_models_equal_the_table_and_their_expectation(name, tables):
    space, task = tiny_spaces()[name], tiny_task()
    model = latency_model(space, task, FAST, path=tables[name])
    table = LatencyTable(FAST, tables[name]).setup(space, tuple(task.input_shape), int(task.num_classes))
    before = len(table.entries_)
    supernet = build_supernet(space, task, **getattr(SUPERNETS.get(name), "entangled_config", {}))
    archs = list(space.sample_distinct(8, 0)) + list(supernet.extremes())
    for arch in archs:
        assert model.arch_ms(arch) == pytest.approx(table.predict(arch), rel=1e-9), arch.key
        _one_hot(supernet, arch)
        assert float(model.expected_of(supernet).detach()) == pytest.approx(model.arch_ms(arch), rel=1e-6), arch.key
    assert len(table.entries_) == before  # the model had profiled every block these archs use
    assert from_dict(model.to_dict()) == model


def test_expected_latency_is_the_mean_over_sampled_archs(tables):
    """Decisions are independent: the expectation equals the Monte-Carlo mean of arch latencies."""
    space, task = tiny_spaces()["mbconv"], tiny_task()
    model = latency_model(space, task, FAST, path=tables["mbconv"])
    supernet = build_supernet(space, task, entangle=True)
    torch.manual_seed(1)
    with torch.no_grad():
        supernet.alphas.normal_(0, 1.5)
    gen = torch.Generator().manual_seed(0)
    samples = []
    for _ in range(3000):
        values = {name: space.choice(name).options[int(torch.multinomial(p, 1, generator=gen))]
                  for name, p in ((n, p.detach()) for n, p in supernet.choice_probabilities().items())}
        samples.append(model.arch_ms(space.arch(values)))
    assert float(model.expected_of(supernet).detach()) == pytest.approx(np.mean(samples), rel=0.02)


def test_a_larger_latency_weight_derives_a_faster_arch(tmp_path):
    """Macro: identity layers are much faster than MBConv ones, far beyond timing noise (on the
    tiny mbconv space the candidates' latencies differ by about the noise; see the next test)."""
    space, task = tiny_spaces()["macro"], tiny_task()
    path = str(tmp_path / "lut.json")  # the runs share one measurement
    common = dict(epochs=3, batch_size=12, arch_lr=0.05, seed=0, latency_table=path)
    derived = {}
    for weight in (0.0, 5.0):
        result = get_method("proxyless", latency_weight=weight, **common).train(space, task)
        derived[weight] = result
    model = latency_model(space, task, path=path)
    slow, fast = (model.arch_ms(derived[w].arch) for w in (0.0, 5.0))
    assert fast < slow, (derived[0.0].arch.key, derived[5.0].arch.key)
    assert derived[5.0].info["latency_model_ms"] == pytest.approx(fast)
    assert derived[5.0].info["latency_model_ms"] < derived[5.0].info["latency_largest_ms"]
    assert "latency_model_ms" not in derived[0.0].info  # no latency term, no latency model


def test_the_latency_term_alone_drives_mbconv_to_its_shallowest_archs(tables):
    space, task = tiny_spaces()["mbconv"], tiny_task()
    model = latency_model(space, task, FAST, path=tables["mbconv"])
    supernet = build_supernet(space, task, entangle=True)
    before = float(model.expected_of(supernet).detach())
    opt = torch.optim.Adam(supernet.arch_parameters(), lr=0.1)
    for _ in range(100):
        loss = model.expected_of(supernet)
        opt.zero_grad()
        loss.backward()
        opt.step()
    derived = supernet.derive()
    assert float(model.expected_of(supernet).detach()) < before
    assert all(int(derived[f"depth_{s}"]) == min(space.depths) for s in range(len(space.widths))), derived.key


def test_proxyless_runs_on_every_space_with_a_latency_model():
    from nasforge.oneshot.gradient import ProxylessNAS

    assert ProxylessNAS.supported_spaces() == ["macro", "mbconv", "nb201"]
