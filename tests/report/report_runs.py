"""Run directories written by hand for the report tests, one full of injected markup."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from nasforge.core.records import COMPLETE, FAILED
from nasforge.experiment.storage import Storage
from nasforge.space import get_space
from nasforge.space.arch import Arch


def script(n: int | str) -> str:
    return f"<script>alert({n})</script>"


def escaped(n: int | str) -> str:
    return f"&lt;script&gt;alert({n})&lt;/script&gt;"


#: every place the report reads text from, each with its own payload number
FIELDS = {"task": 1, "space": 2, "strategy": 3, "objective": 4, "arch": 5, "test_accuracy": 6,
          "retrain_epochs": 7, "params": 8, "flops": 9, "trial_arch": 10, "trial_error": 11,
          "metric_name": 12, "metric_value": 13, "status": 14}


def make_run(folder: Path, config: dict, trials: list[tuple[Arch, str, dict, str | None]],
             summary: dict | None, meta: dict | None = None) -> Path:
    """A run directory written by hand: config.yaml, trials.db (with ``meta``; a trial
    finished after ``n`` counted trials reads ``n`` on the run's clock) and best/summary.json."""
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    storage = Storage(folder / "trials.db")
    for i, (arch, status, metrics, error) in enumerate(trials, start=1):
        number = storage.add_trial(arch)
        if status != "running":
            storage.finish_trial(number, status, metrics, error, 1.0, clock=float(i))
    for key, value in (meta or {}).items():
        storage.set_meta(key, value)
    storage.close()
    if summary is not None:
        (folder / "best").mkdir()
        (folder / "best" / "summary.json").write_text(json.dumps(summary))
    return folder


def injected_run(tmp_path: Path, **config_changes: object) -> Path:
    archs = get_space("conv1d").sample_distinct(3, 0)
    evil_arch = Arch("conv1d", dict(archs[0]), script(FIELDS["trial_arch"]))
    objective = script(FIELDS["objective"])
    metric = script(FIELDS["metric_name"])
    config = {"task": script(FIELDS["task"]), "space": script(FIELDS["space"]),
              "strategy": script(FIELDS["strategy"]), "objectives": [f"{objective}:max", "params:min"],
              **config_changes}
    trials = [
        (evil_arch, COMPLETE, {objective: 0.7, "params": 2000, metric: 1.5,
                               "note": script(FIELDS["metric_value"])}, None),
        (archs[1], COMPLETE, {objective: 0.8, "params": 3000}, None),
        (archs[2], FAILED, {}, script(FIELDS["trial_error"])),
        (archs[1], script(FIELDS["status"]), {}, None),
    ]
    summary = {key: script(FIELDS[key]) for key in ("arch", "test_accuracy", "retrain_epochs", "params", "flops")}
    return make_run(tmp_path / "run-<img src=x onerror=alert(0)>", config, trials, summary)
