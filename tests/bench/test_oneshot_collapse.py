"""``benchmarks/oneshot.py collapse``: the DARTS collapse curve read from real (tiny) nb201 runs
on the CIFAR-10 subset, with a run that the DARTS+ criterion stops early beside a full one."""

from __future__ import annotations

import pytest

from nasforge.experiment.run_dir import DB
from nasforge.experiment.storage import Storage
from nasforge.oneshot.gradient import skip_count
from nasforge.space.registry import get_space


def oneshot_space():
    return get_space("nb201")

TINY = {"epochs": 3, "data_fraction": 0.03, "eval_images": 64, "search_trials": 1, "calib_batches": 1}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, benchmark_script):
    oneshot = benchmark_script("oneshot")
    root = tmp_path_factory.mktemp("oneshot")
    oneshot.run_nb201(["darts"], [0], root, TINY, tag="-full")
    oneshot.run_nb201(["darts"], [0], root, {**TINY, "early_stop": "skip", "early_stop_skips": 1}, tag="-es")
    return oneshot, root


def _epochs(path):
    storage = Storage(path / DB)
    try:
        return storage.epochs()
    finally:
        storage.close()


def test_collapse_table_reads_every_epoch_and_the_stop(runs, capsys):
    oneshot, root = runs
    full, stopped = _epochs(root / "nb201" / "darts-full" / "seed0"), _epochs(root / "nb201" / "darts-es" / "seed0")
    # the two runs are the same until the criterion fires: the stop is the first full-run epoch
    # whose arg-max arch has a skip connection (or none: all 3 epochs)
    skips = [skip_count(oneshot_space().parse(e["derived"])) for e in full]
    expected = next((i + 1 for i, n in enumerate(skips) if n >= 1), 3)
    assert len(full) == 3 and len(stopped) == expected
    assert [e["derived"] for e in stopped] == [e["derived"] for e in full[:expected]]
    capsys.readouterr()
    oneshot.collapse(root, ["darts-full", "darts-es"], every=2)
    out = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]] for line in out.splitlines()
            if line.startswith("| ")}
    assert set(rows) >= {"1", "2", "3", "result: true acc (param-free edges)", "epochs trained per seed"}
    first = full[0]
    mass, free, acc = (float(v) for v in rows["1"][0].split(" / "))
    assert free == oneshot._free_edges(first["derived"])
    assert acc == pytest.approx(oneshot._true_accuracy(first["derived"]), abs=0.006)
    assert mass == pytest.approx(oneshot._free_mass(first["arch_weights"]), abs=0.006)
    assert rows["epochs trained per seed"] == ["3", str(len(stopped))]
    if len(stopped) < 3:
        assert rows["3"][1] == "stopped"


def test_free_edges_counts_parameter_free_ops(benchmark_script):
    oneshot = benchmark_script("oneshot")
    key = "nb201:|none~0|+|skip_connect~0|nor_conv_3x3~1|+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|"
    assert oneshot._free_edges(key) == 4
