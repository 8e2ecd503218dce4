"""The weight-entangled ``vit`` and ``gpt`` supernets: extraction equals the supernet path, the
TangleNAS relaxation is exact at one-hot and trains every decision, sandwich/SPOS/TangleNAS
train them, the supernet file round-trips, and ``--evaluator supernet`` serves any strategy."""

from __future__ import annotations

import math
import sqlite3

import numpy as np
import pytest
import torch
from oneshot_toys import tiny_spaces, tiny_task_for

from nasforge.hardware.metrics import TaskShape
from nasforge.oneshot.base import get_method
from nasforge.oneshot.data import SplitTensors, flat
from nasforge.oneshot.io import load_supernet, save_supernet
from nasforge.oneshot.supernet import build_supernet
from nasforge.space.registry import get_space

SPACES = ("vit", "gpt")


def _inputs(space: str, n: int = 5) -> torch.Tensor:
    task = tiny_task_for(space)
    return torch.as_tensor(task.x_val[:n])


def _perturbed(space: str, seed: int = 0):
    """A supernet whose every parameter is random (so a wrong slice of a LayerNorm, a bias or an
    embedding cannot hide behind an init of ones or zeros)."""
    torch.manual_seed(seed)
    supernet = build_supernet(tiny_spaces()[space], tiny_task_for(space))
    with torch.no_grad():
        for p in supernet.weight_parameters():
            p.add_(0.3 * torch.randn_like(p))
    return supernet


def _one_hot(supernet, arch) -> None:
    with torch.no_grad():
        supernet.alphas.zero_()
        for i, c in enumerate(supernet.space.choices):
            supernet.alphas[i, c.options.index(arch[c.name])] = 1e4


@pytest.mark.parametrize("space", SPACES)
def test_extracted_subnetwork_is_the_space_network_and_computes_the_supernet_path(space):
    supernet, x = _perturbed(space), _inputs(space)
    sp = supernet.space
    archs = [*supernet.extremes(), *sp.sample_distinct(10, 1)]
    for arch in archs:
        net = supernet.extract(arch)
        standalone = sp.build(arch, supernet.shape)
        assert type(net) is type(standalone)
        assert {k: v.shape for k, v in net.state_dict().items()} == \
            {k: v.shape for k, v in standalone.state_dict().items()}
        with torch.no_grad():
            diff = (net(x) - supernet(x, arch)).abs().max().item()
        assert diff < 1e-5, (arch.key, diff)
    big, small = supernet.extremes()
    params = [sum(p.numel() for p in supernet.extract(a).parameters()) for a in (big, small)]
    assert params[0] > params[1]


@pytest.mark.parametrize("space", SPACES)
def test_relaxation_is_exact_at_one_hot_and_its_gradient_reaches_every_decision(space):
    supernet, x = _perturbed(space), _inputs(space)
    for arch in supernet.space.sample_distinct(4, 2):
        _one_hot(supernet, arch)
        with torch.no_grad():
            assert (supernet(x) - supernet(x, arch)).abs().max().item() < 1e-5, arch.key
        assert supernet.derive() == arch
    with torch.no_grad():
        supernet.alphas.normal_(0, 0.5)
    y = torch.as_tensor(tiny_task_for(space).y_val[:5])
    torch.nn.functional.cross_entropy(*flat(supernet(x), y)).backward()
    grad = supernet.alphas.grad
    for i, c in enumerate(supernet.space.choices):  # every decision of the deepest network is trained
        assert grad[i, :len(c.options)].abs().sum() > 0, c.name


def test_supernet_refuses_the_wrong_kind_of_task_naming_it():
    with pytest.raises(ValueError, match="gpt supernet needs a sequence task"):
        build_supernet(tiny_spaces()["gpt"], TaskShape((3, 8, 8), 3))
    with pytest.raises(ValueError, match=r"patch size\(s\) \[4\] do not divide"):
        build_supernet(get_space("vit", patch_sizes=(2, 4)), TaskShape((3, 6, 6), 3))
    supernet = build_supernet(tiny_spaces()["gpt"], tiny_task_for("gpt"))
    with pytest.raises(ValueError, match="int64 token ids"):
        supernet(torch.zeros(2, 8), supernet.extremes()[0])


@pytest.mark.parametrize("space,method", [("gpt", "sandwich"), ("vit", "sandwich"), ("gpt", "spos"),
                                          ("gpt", "tanglenas")])
def test_methods_train_the_transformer_supernet(space, method):
    """Sandwich (in-place distillation), SPOS and TangleNAS lower the largest sub-network's
    validation loss from the initial supernet's (weights inherited, nothing retrained)."""
    task = tiny_task_for(space)
    m = get_method(method, epochs=12, batch_size=8, lr=0.05, seed=0, search_trials=2, arch_lr=0.05)
    state = m.begin(tiny_spaces()[space], task)
    data = SplitTensors.of(task)
    largest = state.supernet.extremes()[0]

    def val_loss() -> float:
        with torch.no_grad():
            return float(torch.nn.functional.cross_entropy(*flat(state.supernet(data.x_val, largest), data.y_val)))

    before = val_loss()
    start = state.supernet.alphas.detach().clone()
    while state.epochs_done < 12:
        m.epoch(state)
    assert val_loss() < before - 0.1
    moved = (state.supernet.alphas.detach() - start).abs().max().item()
    assert (moved > 1e-3) == (method == "tanglenas")  # only the gradient method trains architecture weights


def test_supernet_file_round_trips(tmp_path):
    supernet, x = _perturbed("vit"), _inputs("vit")
    save_supernet(supernet, tmp_path / "s.pt")
    loaded = load_supernet(tmp_path / "s.pt")
    assert loaded.space.name == "vit" and loaded.space.embed_dims == (8, 16)
    for arch in supernet.space.sample_distinct(3, 0):
        with torch.no_grad():
            assert torch.equal(loaded(x, arch), supernet(x, arch))


def test_cli_gpt_supernet_then_any_strategy_searches_it_with_perplexity(tmp_path):
    """``nasforge supernet --space gpt`` on a text file, then ``nasforge search --evaluator supernet``
    with another strategy: a run directory whose trials hold the inherited-weight perplexity."""
    from typer.testing import CliRunner

    from nasforge.cli import app

    rng = np.random.default_rng(0)
    words = ["the ", "cat ", "sat ", "on ", "a ", "mat. "]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(words[i] for i in rng.integers(0, len(words), 1500)))
    task = f"text:{corpus},context=16"
    small = ["-P", "embed_dims=[8,16]", "-P", "max_depth=2", "-P", "heads=[1,2]", "-P", "mlp_ratios=[1,2]",
             "-P", "head_dim=4"]
    runner = CliRunner()
    out = tmp_path / "sn"
    res = runner.invoke(app, ["supernet", "--space", "gpt", *small, "--task", task, "--method", "sandwich",
                              "--epochs", "1", "--rank-archs", "4", "--threads", "1", "--batch-size", "16",
                              "-S", "search_trials=2", "-S", "eval_images=32", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert (out / "correlations.csv").is_file()
    res = runner.invoke(app, ["search", "--space", "gpt", *small, "--task", task, "--strategy", "random",
                              "--evaluator", "supernet", "-E", f"path={out / 'supernet.pt'}", "-E", "eval_images=32",
                              "--trials", "3", "--no-final-retrain", "--out", str(tmp_path / "search")])
    assert res.exit_code == 0, res.output
    with sqlite3.connect(tmp_path / "search" / "trials.db") as db:
        rows = db.execute("SELECT status, metrics FROM trials").fetchall()
    assert len(rows) == 3 and all(status == "complete" for status, _ in rows)
    import json

    for _, metrics in rows:
        m = json.loads(metrics)
        assert m["perplexity"] == pytest.approx(math.exp(m["val_loss"]))
        assert 1.0 < m["perplexity"] < 11  # better than uniform over the corpus's 11 characters


def test_optimizer_setting_trains_with_adamw_and_methods_that_move_momentum_refuse_it():
    state = get_method("sandwich", optimizer="adamw", epochs=1, lr=0.002).begin(tiny_spaces()["gpt"],
                                                                                tiny_task_for("gpt"))
    assert isinstance(state.opt, torch.optim.AdamW)
    for method in ("fewshot", "fewshot-gm", "ofa"):
        with pytest.raises(ValueError, match=f"optimizer: method '{method}' trains its weights with SGD only"):
            get_method(method, optimizer="adamw")
    with pytest.raises(ValueError, match="optimizer: Input should be 'sgd' or 'adamw'"):
        get_method("spos", optimizer="adam")


def test_vit_search_with_the_supernet_evaluator_writes_a_run_directory(tmp_path):
    """Any ask/tell strategy scores vit sub-networks with inherited weights (Python API, run directory)."""
    import nasforge

    supernet = _perturbed("vit")
    save_supernet(supernet, tmp_path / "vit.pt")
    result = nasforge.search(tiny_task_for("vit"), tiny_spaces()["vit"], "evolution", evaluator="supernet",
                             evaluator_settings={"path": str(tmp_path / "vit.pt"), "threads": 1},
                             strategy_settings={"population_size": 2, "sample_size": 1}, trials=4,
                             final_retrain=False, run_dir=tmp_path / "run", progress=False)
    assert all((tmp_path / "run" / name).is_file() for name in ("config.yaml", "trials.db", "pareto.csv"))
    done = [t for t in result.trials if t.status == "complete"]
    assert len(done) == 4 and all(0.0 <= t.metrics["val_accuracy"] <= 1.0 for t in done)
    net = supernet.extract(done[0].arch).eval()  # the trial's score is the extracted network's accuracy
    data = SplitTensors.of(tiny_task_for("vit"))
    with torch.no_grad():
        acc = float((net(data.x_val).argmax(1) == data.y_val).float().mean())
    assert done[0].metrics["val_accuracy"] == pytest.approx(acc)
