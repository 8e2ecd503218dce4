"""Sub-networks of a pretrained Llama (``hf-lm`` space, ``lm-subnet`` evaluator, ``nasforge
lm-subnets``) on a tiny Llama-architecture model built from a local config, pretrained for a few
seconds on the byte-level stdlib corpus by a module fixture; never a hub download."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from nasforge.cli import app
from nasforge.estimate.base import IncompatibleError, RunContext
from nasforge.oneshot.lm.elastic import ElasticLlama, SubNet
from nasforge.oneshot.lm.evaluator import LMSubnetEvaluator, LMSubnetSettings
from nasforge.oneshot.lm.finetune import FinetuneSettings, finetune_checkpoint, pretrain
from nasforge.oneshot.lm.hf import load_llama, save_llama, tiny_llama
from nasforge.oneshot.lm.tokens import score, split_windows
from nasforge.space.hf_lm import HFLMSpace
from nasforge.space.registry import get_space
from nasforge.strategy.base import STRATEGIES
from nasforge.task import load_task

TASK = "stdlib:level=byte,context=32"


@pytest.fixture(scope="module")
def task():
    return load_task(TASK)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, task):
    """A 4-layer Llama (4 query heads in 2 grouped-query groups, MLP 64) pretrained 60 steps."""
    net = ElasticLlama(tiny_llama(hidden_size=32, layers=4, heads=4, kv_heads=2, intermediate_size=64))
    losses = pretrain(net, split_windows(task, "train"), steps=60, batch_size=16, lr=5e-3)
    assert losses[-1] < losses[0] - 1.0  # it learned something about Python source
    return save_llama(net.model, tmp_path_factory.mktemp("tiny-llama"))


def test_the_space_reads_its_decisions_from_the_checkpoint_config(pretrained):
    space = get_space("hf-lm", model=str(pretrained))
    assert [c.name for c in space.choices] == ["layers", "mlp", "heads"]
    assert space.choice("layers").options == (1, 2, 3, 4)
    assert space.choice("mlp").options == (16, 32, 48, 64)
    assert space.choice("heads").options == (2, 4)  # whole groups of 2 query heads per key/value head
    config = json.loads((pretrained / "config.json").read_text())
    (pretrained.parent / "six").mkdir(exist_ok=True)
    (pretrained.parent / "six" / "config.json").write_text(json.dumps({**config, "hidden_size": 64,
                                                                       "num_attention_heads": 8, "head_dim": 8,
                                                                       "num_key_value_heads": 4}))
    # groups of 2: 2, 4, 6, 8; 6 does not divide hidden_size 64, which LlamaConfig refuses to load
    assert HFLMSpace(str(pretrained.parent / "six")).choice("heads").options == (2, 4, 8)
    assert space.parse("hf-lm:layers=2,mlp=32,heads=2")["mlp"] == 32


def test_bad_checkpoints_are_refused_with_the_reason(tmp_path, pretrained):
    with pytest.raises(ValueError, match="no such folder"):
        HFLMSpace(str(tmp_path / "missing"))
    (tmp_path / "gpt").mkdir()
    (tmp_path / "gpt" / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(ValueError, match="model_type 'gpt2'"):
        HFLMSpace(str(tmp_path / "gpt"))
    config = json.loads((pretrained / "config.json").read_text())
    (tmp_path / "kv").mkdir()
    (tmp_path / "kv" / "config.json").write_text(json.dumps({**config, "num_key_value_heads": 3}))
    with pytest.raises(ValueError, match="num_key_value_heads=3 must divide"):
        HFLMSpace(str(tmp_path / "kv"))
    (tmp_path / "noweights").mkdir()
    (tmp_path / "noweights" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="no \\*.safetensors"):
        load_llama(tmp_path / "noweights")
    with pytest.raises(ValueError, match="min_layers must be in"):
        HFLMSpace(str(pretrained), min_layers=9)


def test_missing_transformers_names_the_extra(monkeypatch):
    from nasforge.oneshot.lm.hf import transformers

    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ImportError, match=r"nasforge\[lm\]"):
        transformers()


def test_sub_network_path_equals_the_exported_and_reloaded_model(pretrained, tmp_path, task):
    from transformers import AutoModelForCausalLM

    model = load_llama(pretrained)
    net = ElasticLlama(model)
    ids = split_windows(task, "val").x[:3]
    with torch.no_grad():
        assert torch.equal(net(ids), model(ids).logits)  # the largest sub-network is the model itself
        for sub in (SubNet(2, 32, 2), SubNet(3, 16, 4), SubNet(1, 64, 2)):
            folder = save_llama(net.extract(sub), tmp_path / str(sub.layers))
            reloaded = AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True,
                                                            use_safetensors=True)
            config = reloaded.config
            assert (config.num_hidden_layers, config.intermediate_size, config.num_attention_heads,
                    config.num_key_value_heads) == (sub.layers, sub.mlp, sub.heads, sub.heads // 2)
            assert sum(p.numel() for p in reloaded.parameters()) == net.sub_params(sub)
            assert float((reloaded(ids).logits - net(ids, sub)).abs().max()) < 1e-5
    with pytest.raises(ValueError, match="heads=3 must be a multiple"):
        net(ids, SubNet(1, 16, 3))


def test_sandwich_finetuning_teaches_the_small_sub_networks(pretrained, task, tmp_path):
    space = HFLMSpace(str(pretrained))
    settings = FinetuneSettings(steps=12, batch_size=8, lr=3e-3, middle=1)
    record = finetune_checkpoint(pretrained, task, tmp_path / "supernet", settings, eval_windows=64)
    before, after = record["val_perplexity_before"], record["val_perplexity_after"]
    # the smallest sub-network was never trained alone: distillation from the largest helps it most
    assert after["smallest"] < 0.8 * before["smallest"], record
    assert after["largest"] < 1.1 * before["largest"], record
    net = ElasticLlama(load_llama(tmp_path / "supernet"))
    smallest = SubNet.of(space.smallest())
    val = split_windows(task, "val").head(64)
    assert score(lambda x: net(x, smallest), val)["perplexity"] == pytest.approx(after["smallest"], rel=1e-5)
    # the same command again keeps the folder; other settings are refused
    assert finetune_checkpoint(pretrained, task, tmp_path / "supernet", settings, eval_windows=64) == record
    with pytest.raises(ValueError, match="other settings"):
        finetune_checkpoint(pretrained, task, tmp_path / "supernet", FinetuneSettings(steps=3))


def test_the_evaluator_scores_sub_networks_and_refuses_what_does_not_fit(pretrained, task):
    space = HFLMSpace(str(pretrained))
    settings = LMSubnetSettings(eval_windows=32, latency_repeats=2, latency_warmup=0)
    ev = LMSubnetEvaluator.for_run(RunContext(space, task), settings)
    big, small = ev.evaluate(space.parse("layers=4,mlp=64,heads=4")), ev.evaluate(space.parse("layers=1,mlp=16,heads=2"))
    assert big.ok and small.ok
    assert big.metrics["val_perplexity"] < small.metrics["val_perplexity"]
    assert big.metrics["params"] > small.metrics["params"] and small.metrics["latency_ms"] > 0
    assert big.metrics["val_perplexity"] == pytest.approx(torch.exp(torch.tensor(big.metrics["val_loss"])).item())
    cpu = LMSubnetEvaluator.for_run(RunContext(space, task), settings.model_copy(update={"latency_clock": "cpu"}))
    assert cpu.evaluate(space.parse("layers=1,mlp=16,heads=2")).metrics["latency_ms"] > 0
    with pytest.raises(IncompatibleError, match="latency_clock=cpu"):
        LMSubnetEvaluator.for_run(RunContext(space, task, device="cuda"), settings.model_copy(
            update={"latency_clock": "cpu"}))
    with pytest.raises(IncompatibleError, match="space 'hf-lm'"):
        LMSubnetEvaluator.check_space(get_space("conv1d"), settings)
    with pytest.raises(ValueError, match="not a text"):
        LMSubnetEvaluator.for_run(RunContext(space, load_task("digits")), settings)


def test_lm_subnets_command_runs_finetuning_search_and_export(pretrained, tmp_path):
    out = tmp_path / "run"
    args = ["lm-subnets", "--model", str(pretrained), "--task", TASK, "--finetune-steps", "4", "--finetune-batch",
            "8", "--trials", "6", "--population", "3", "-E", "eval_windows=16", "-E", "latency_repeats=2",
            "--final-front", "--device", "cpu", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    for name in ("config.yaml", "trials.db", "pareto.csv", "report.html", "supernet/config.json",
                 "best/model/config.json", "best/summary.json"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "best" / "summary.json").read_text())
    assert summary["kind"] == "export" and summary["max_abs_logit_difference"] < 1e-5
    assert summary["test_perplexity"] == pytest.approx(summary["supernet_path_test_perplexity"], rel=1e-5)
    arch = HFLMSpace(str(out / "supernet")).parse(summary["arch"])
    assert json.loads((out / "best" / "model" / "config.json").read_text())["num_hidden_layers"] == arch["layers"]
    assert "selected: hf-lm:" in " ".join(result.output.split())
    members = list(csv.DictReader(open(out / "best" / "front.csv")))
    assert members and all(float(m["max_abs_logit_difference"]) < 1e-5 for m in members)
    assert all((out / "best" / "front" / m["member"] / "model" / "model.safetensors").is_file() for m in members)
    again = CliRunner().invoke(app, ["resume", str(out)])
    assert again.exit_code == 0 and "the run is complete" in " ".join(again.output.split()), again.output
    refused = CliRunner().invoke(app, [*args[:-1], str(out)])
    assert refused.exit_code == 2 and "nasforge resume" in refused.output
    digits = CliRunner().invoke(app, ["lm-subnets", "--model", str(pretrained), "--task", "digits", "--out",
                                      str(tmp_path / "digits")])
    assert digits.exit_code == 2 and "not a text (sequence) task" in " ".join(digits.output.split())
    assert not (tmp_path / "digits" / "supernet").exists()


def test_a_search_without_transformers_is_refused_naming_the_extra(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "transformers" else
                        real(name, *a))
    space = HFLMSpace(str(Path(__file__).parents[1] / "data" / "tiny-llama"))
    with pytest.raises(IncompatibleError, match=r"nasforge\[lm\]"):
        LMSubnetEvaluator.check_space(space, LMSubnetSettings())


#: ask/tell strategies that cannot search hf-lm, and what their refusal says
REFUSED_STRATEGIES = {"fbnetv3": "pretraining needs the free statistics"}
#: strategies guided by a zero-cost proxy: hf-lm builds no network to score, so every
#: architecture ranks last (a warning says so) and they search as random search does
UNSCORED_STRATEGIES = ("proxy-evolution", "proxy-local", "proxy-warmstart")


@pytest.fixture(scope="module")
def random_llama(tmp_path_factory):
    from matrix_harness import tiny_llama_checkpoint

    return tiny_llama_checkpoint(tmp_path_factory.mktemp("random-llama") / "model")


@pytest.mark.parametrize("strategy", STRATEGIES.list())
def test_every_ask_tell_strategy_searches_hf_lm(strategy, random_llama, tmp_path):
    from matrix_harness import STRATEGY_SETTINGS

    args = ["search", "--task", "stdlib:level=byte,context=16", "--space", "hf-lm", "-P", f"model={random_llama}",
            "--evaluator", "lm-subnet", "-E", "eval_windows=4", "-E", "latency_repeats=1", "--strategy", strategy,
            "--trials", "2", "--no-final-retrain", "--out", str(tmp_path / "run")]
    for item in STRATEGY_SETTINGS.get(strategy, []):
        args += ["-S", item]
    if strategy in UNSCORED_STRATEGIES:
        with pytest.warns(RuntimeWarning, match="has no model builder"):
            result = CliRunner().invoke(app, args)
    else:
        result = CliRunner().invoke(app, args)
    text = " ".join(result.output.split())
    if strategy in REFUSED_STRATEGIES:
        assert result.exit_code == 2 and REFUSED_STRATEGIES[strategy] in text, text
    else:
        assert result.exit_code == 0, text
        assert "2 trials: 2 complete" in text, text
