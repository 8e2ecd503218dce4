"""benchmarks/quant_predictor_transfer.py: labels are collected resumably; the study compares the
transferred predictor with the quantized-only one at each number of quantized samples."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from nasforge.estimate.predictors.transfer import float_point
from nasforge.space.quant import QuantSpace


@pytest.fixture(scope="module")
def transfer(benchmark_script):
    return benchmark_script("quant_predictor_transfer")


def test_collect_trains_each_arch_once(transfer, tmp_path):
    args = ["collect", "--out", str(tmp_path), "--float-archs", "2", "--quant-archs", "2", "--epochs", "1",
            "--qat-epochs", "0", "--data-fraction", "0.05"]
    transfer.main(args)
    rows = list(csv.DictReader((tmp_path / "labels.csv").open()))
    assert [r["kind"] for r in rows] == ["float", "quant", "float", "quant"]
    assert all(r["arch"].endswith("w32a32k1.0/w32a32k1.0/w32a32k1.0") for r in rows[::2])
    transfer.main(args)  # resumed: nothing trained twice
    assert len(list(csv.DictReader((tmp_path / "labels.csv").open()))) == 4
    with pytest.raises(SystemExit, match="another --out"):
        transfer.main([*args, "--seed", "1"])
    other = tmp_path / "seed1"
    transfer.main([*args[:1], "--out", str(other), *args[3:], "--seed", "1"])
    archs = {r["arch"] for r in csv.DictReader(other.joinpath("labels.csv").open())}
    assert len(archs) == 4 and not archs & {r["arch"] for r in rows}


def test_study_prints_tau_per_sample_size(transfer, tmp_path, capsys):
    space = QuantSpace("conv1d")
    weights = np.random.default_rng(0).normal(size=space.encoding_size)
    folders = [tmp_path / "a", tmp_path / "b"]
    for seed, folder in enumerate(folders):
        folder.mkdir()
        with (folder / "labels.csv").open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(transfer.COLUMNS)
            for b in space.base.sample_distinct(20, np.random.default_rng(2 * seed)):
                arch = float_point(space, b)
                writer.writerow(["float", arch.key, float(space.encode(arch) @ weights)])
            for arch in space.sample_distinct(30, np.random.default_rng(2 * seed + 1)):
                writer.writerow(["quant", arch.key, float(space.encode(arch) @ weights)])
    rows = transfer.main(["study", "--out", *map(str, folders), "--sizes", "5", "10", "--repeats", "2",
                          "--members", "1", "--epochs", "60"])
    out = capsys.readouterr().out
    assert out.count("20 float and 30 quantized labels") == 2 and "| 5 |" in out and "| 10 |" in out
    assert len(rows) == 2 * 2 * 2 and {r["collection"] for r in rows} == set(map(str, folders))
    # the labels are linear in the encoding: the transferred predictor must rank them well
    # labels linear in the encoding, float rows included: the float rows must help the ranking
    assert np.mean([r["transfer"] for r in rows]) > max(0.3, np.mean([r["quant-only"] for r in rows]) + 0.1)
    line = next(x for x in out.splitlines() if x.startswith("| 10 |"))
    assert line.count(" / ") == 2 and line.endswith("of 4 |")
    folder = str(folders[0])
    with pytest.raises(SystemExit, match="collect more"):
        transfer.main(["study", "--out", folder, "--sizes", "40"])

