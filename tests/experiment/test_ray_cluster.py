"""``--executor ray --ray-address`` against a real cluster started with ``ray start --head``.

One cluster per module, started the plain way where a token exists (``~/.ray/auth_token``, as
any earlier local ``ray.init`` leaves one), so token authentication is on: the case that
failed until ``RAY_AUTH_MODE=token`` was exported by hand. Two CPUs, its own temporary
directory, HOME and free ports, so it never meets another Ray instance on the machine.
Searches run as ``nasforge`` subprocesses, each with an environment built here (no token or
address of the user's leaks in). The finalizer stops exactly this
cluster's processes: ``ray stop`` would stop every Ray process on the machine (it matches
process names), other people's instances included.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'nasforge[ray]')")
import psutil  # noqa: E402 - Ray's own copy (ray/thirdparty_files), importable once ray is imported

from nasforge.experiment.storage import Storage  # noqa: E402


@dataclass(frozen=True)
class Cluster:
    root: Path  # temp dir, homes, token file
    port: int
    node_id: str
    token_file: Path  # the cluster's token, also in its HOME's .ray/auth_token
    home: Path  # the HOME the cluster started with (holding its token)
    empty_home: Path  # a HOME without any token

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _ray_cli() -> str:
    beside = Path(sys.executable).with_name("ray")
    return str(beside) if beside.exists() else (shutil.which("ray") or "ray")


def _clean_env(home: Path) -> dict[str, str]:
    """This process's environment without any Ray address or token, HOME pointing at ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_AUTH", "RAY_ADDRESS"))}
    return {**env, "HOME": str(home), "OMP_NUM_THREADS": "1", "COLUMNS": "200"}


def _stop(session: int, root: Path) -> None:
    """Stop the cluster started in process session ``session``: its processes, their children and
    anything running from its temp dir; SIGTERM, then SIGKILL after a grace period."""
    mine: dict[int, psutil.Process] = {}
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if proc.pid == os.getpid():
                continue
            if os.getsid(proc.pid) == session or str(root) in " ".join(proc.info["cmdline"] or ()):
                mine[proc.pid] = proc
                mine.update({c.pid: c for c in proc.children(recursive=True)})
        except (psutil.Error, ProcessLookupError, PermissionError):
            continue
    for proc in mine.values():
        try:
            proc.send_signal(signal.SIGTERM)
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(list(mine.values()), timeout=3)
    for proc in alive:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=5)


@pytest.fixture(scope="module")
def cluster():
    # a short path: Ray's unix sockets live under the temp dir and must stay under 108 characters
    root = Path(tempfile.mkdtemp(prefix="nfray-", dir="/tmp"))
    (root / "home" / ".ray").mkdir(parents=True)
    (root / "empty").mkdir()
    token = secrets.token_hex(16)
    token_file = root / "token"
    token_file.write_text(token)
    (root / "home" / ".ray" / "auth_token").write_text(token)
    port, client, dashboard, agent, agent_grpc, env_agent, metrics = _free_ports(7)
    env = _clean_env(root / "home")  # `ray start` finds the token there and turns token authentication on
    command = [_ray_cli(), "start", "--head", f"--port={port}", "--num-cpus=2", "--disable-usage-stats",
               f"--temp-dir={root / 'ray'}", "--include-dashboard=false", f"--ray-client-server-port={client}",
               f"--dashboard-port={dashboard}", f"--dashboard-agent-listen-port={agent}",
               f"--dashboard-agent-grpc-port={agent_grpc}", f"--runtime-env-agent-port={env_agent}",
               f"--metrics-export-port={metrics}"]
    log = root / "start.log"
    with open(log, "w") as out:
        starter = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        assert starter.wait(120) == 0, log.read_text()
        names = sorted({p.name for p in (root / "ray").glob("session_2*/gcs_server_port_*")})
        assert len(names) == 1, f"expected the head node's files in {root / 'ray'}: {names}"
        yield Cluster(root, port, names[0].rpartition("_")[2], token_file, root / "home", root / "empty")
    finally:
        if starter.poll() is None:
            starter.kill()
        _stop(starter.pid, root)
        shutil.rmtree(root, ignore_errors=True)


def _search(tmp_path: Path, env: dict[str, str], *options: str, timeout: float = 120):
    command = [sys.executable, "-m", "nasforge", "search", "--space", "nb201", "--evaluator", "tabular",
               "--strategy", "random", "--trials", "6", "--no-final-retrain", "--executor", "ray", "--workers", "2",
               "--threads-per-worker", "1", "--run-dir", str(tmp_path / "run"), *options]
    began = time.monotonic()
    out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    return out, " ".join((out.stdout + out.stderr).split()), time.monotonic() - began


def test_a_search_runs_on_the_cluster_and_records_its_node(cluster, tmp_path):
    """Six trials on two workers of the cluster; the token is Ray's own (``~/.ray/auth_token``)."""
    out, text, _ = _search(tmp_path, _clean_env(cluster.home), "--ray-address", cluster.address)
    assert out.returncode == 0, text
    storage = Storage(tmp_path / "run" / "trials.db")
    try:
        trials = storage.trials()
    finally:
        storage.close()
    assert len(trials) == 6 and all(t.status == "complete" for t in trials), [(t.status, t.error) for t in trials]
    workers = [t.info["worker"] for t in trials]
    assert all(w["executor"] == "ray" and w["node_id"] == cluster.node_id for w in workers), workers
    assert all(w["node_ip"] and w["host"] == socket.gethostname() and w["worker_id"] for w in workers)
    assert len({w["pid"] for w in workers}) == 2  # both workers ran trials
    assert cluster.token_file.read_text() not in text
    from typer.testing import CliRunner

    from nasforge.cli import app

    shown = CliRunner().invoke(app, ["show", str(tmp_path / "run")], terminal_width=200)
    node = workers[0]
    assert (f"ran on {node['host']} {node['node_ip']} (Ray node {cluster.node_id[:12]}): 6 trials, 2 worker "
            "processes") in shown.output, shown.output


def test_a_cluster_wanting_a_token_we_lack_is_refused_before_anything_runs(cluster, tmp_path):
    out, text, seconds = _search(tmp_path, _clean_env(cluster.empty_home), "--ray-address", cluster.address)
    assert out.returncode == 2, text
    assert (f"error: the Ray cluster at {cluster.address} requires a token (token authentication) and none was "
            "found here: set RAY_AUTH_TOKEN to it, or pass a file holding it with --ray-token-file (config: "
            "ray_token_file); `ray get-auth-token` on the head node prints it") in text
    assert "Traceback" not in text and "gcs_client" not in text
    assert not (tmp_path / "run").exists() and seconds < 30


def test_a_wrong_token_is_refused_and_never_shown(cluster, tmp_path):
    """``auto`` finds the cluster through RAY_ADDRESS (Ray's discovery); its token is the wrong one."""
    wrong = secrets.token_hex(16)
    env = {**_clean_env(cluster.home), "RAY_ADDRESS": cluster.address, "RAY_AUTH_TOKEN": wrong}
    out, text, _ = _search(tmp_path, env, "--ray-address", "auto")
    assert out.returncode == 2, text
    assert (f":{cluster.port} (ray_address auto) requires a token (token authentication) and refused the one "
            "from RAY_AUTH_TOKEN, which is not the cluster's token: set RAY_AUTH_TOKEN to it") in text
    assert wrong not in text and cluster.token_file.read_text() not in text
    assert not (tmp_path / "run").exists()


def test_nothing_at_the_port_says_to_start_a_cluster(cluster, tmp_path):
    [port] = _free_ports(1)
    out, text, seconds = _search(tmp_path, _clean_env(cluster.empty_home), "--ray-address", f"127.0.0.1:{port}")
    assert out.returncode == 2, text
    assert (f"error: no Ray cluster at 127.0.0.1:{port}: Connection refused. Start one with `ray start --head "
            f"--port={port}` on that machine, or check the host and the port") in text
    assert seconds < 30


def test_a_cluster_of_another_ray_version_is_refused(cluster, tmp_path):
    """The cluster's recorded versions (what ``ray.init`` compares) made those of another Ray; the
    token, given as a file, gets past the cluster's authentication to that check."""
    import ray
    from ray._raylet import GcsClient

    from nasforge.experiment.executors.ray_cluster import auth_environment

    key, namespace = b"CLUSTER_METADATA", b"cluster"
    with auth_environment({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": cluster.token_file.read_text()}):
        client = GcsClient(address=cluster.address)
        recorded = client.internal_kv_get(key, namespace)
        other = json.loads(recorded)["ray_version"].replace("2.", "1.", 1)
        client.internal_kv_put(key, json.dumps({**json.loads(recorded), "ray_version": other}).encode(), True,
                               namespace)
    try:
        out, text, _ = _search(tmp_path, _clean_env(cluster.empty_home), "--ray-address", cluster.address,
                               "--ray-token-file", str(cluster.token_file))
    finally:
        with auth_environment({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": cluster.token_file.read_text()}):
            GcsClient(address=cluster.address).internal_kv_put(key, recorded, True, namespace)
    python = ".".join(map(str, sys.version_info[:3]))
    assert out.returncode == 2, text
    assert (f"error: Ray version mismatch: the cluster at {cluster.address} runs Ray {other} on Python {python}, "
            f"this machine Ray {ray.__version__} on Python {python}, and Ray connects only equal versions") in text


@pytest.mark.parametrize("options, message", [
    (["--ray-address", "head-node"], "ray_address: expected auto (the cluster Ray's own discovery finds), HOST:PORT "
     "of the head node (e.g. 10.0.0.5:6379) or ray://HOST:PORT (Ray Client); got 'head-node'"),
    (["--ray-token-file", "t"], "ray_token_file: needs ray_address"),
    (["--ray-address", "auto"], "error: ray_address 'auto': RAY_ADDRESS='head-node' is not HOST:PORT"),
    (["--ray-address", "127.0.0.1:1", "--ray-token-file", "/nonexistent/token"],
     "error: ray_token_file: /nonexistent/token does not exist (`ray get-auth-token` on the head node prints the "
     "cluster's token)"),
])
def test_a_wrong_address_or_token_file_is_refused_without_a_cluster(tmp_path, monkeypatch, options, message):
    from typer.testing import CliRunner

    from nasforge.cli import app

    monkeypatch.setenv("RAY_ADDRESS", "head-node")  # what ``auto`` reads first
    result = CliRunner().invoke(app, ["search", "--run-dir", str(tmp_path / "run"), "--executor", "ray", *options])
    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
    assert not (tmp_path / "run").exists()


@pytest.fixture
def listening():
    """A port that accepts connections (the GCS's answers are the test's to give)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    yield f"127.0.0.1:{server.getsockname()[1]}"
    server.close()


def _gcs(wants_token: bool, asked: list):
    """A stand-in for the GCS: refuses a driver not in token mode if ``wants_token``."""
    def ask(address, env):
        asked.append(dict(env))
        mode = env.get("RAY_AUTH_MODE", os.environ.get("RAY_AUTH_MODE", "disabled"))
        return "auth" if wants_token and mode != "token" else {}
    return ask


@pytest.mark.parametrize("wants_token, setting, env, source", [
    # a cluster without authentication: never token mode, whatever tokens lie around (a driver in
    # token mode cannot serve such a cluster's workers: its actors never start)
    (False, {"file": True}, {}, None),
    (False, {"RAY_AUTH_TOKEN": "x"}, {}, None),
    (False, {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "x"}, {"RAY_AUTH_MODE": "disabled"}, None),
    # a cluster with authentication: token mode with the file, else with Ray's own source
    (True, {"file": True, "RAY_AUTH_TOKEN": "x"}, {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": "FILE",
                                                  "RAY_AUTH_TOKEN": None}, "--ray-token-file FILE"),
    (True, {"RAY_AUTH_TOKEN": "x"}, {"RAY_AUTH_MODE": "token"}, "RAY_AUTH_TOKEN"),
    (True, {"home_token": True, "RAY_AUTH_MODE": "disabled"}, {"RAY_AUTH_MODE": "token"}, "HOME_TOKEN"),
])
def test_token_mode_only_for_a_cluster_that_wants_a_token(tmp_path, monkeypatch, listening, wants_token, setting,
                                                          env, source):
    from nasforge.experiment.executors import ray_cluster

    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    token_file = tmp_path / "token"
    token_file.write_text("secret-token")
    if setting.get("home_token"):
        (tmp_path / ".ray").mkdir()
        (tmp_path / ".ray" / "auth_token").write_text("secret-token")
    for name, value in setting.items():
        if name.startswith("RAY_"):
            monkeypatch.setenv(name, value)
    asked: list = []
    monkeypatch.setattr(ray_cluster, "_ask_gcs", _gcs(wants_token, asked))
    access = ray_cluster.check_cluster(listening, token_file if setting.get("file") else None)
    names = {"FILE": str(token_file.resolve()), "HOME_TOKEN": str(tmp_path / ".ray" / "auth_token")}
    assert access.address == listening
    assert dict(access.env) == {k: names.get(v, v) if isinstance(v, str) else v for k, v in env.items()}
    assert access.token_source == (None if source is None else source.replace("FILE", names["FILE"]).replace(
        "HOME_TOKEN", names["HOME_TOKEN"]))
    assert len(asked) == (2 if wants_token else 1)


def test_a_token_path_that_ray_would_abort_on_is_named_first(tmp_path, monkeypatch, listening):
    """Ray aborts the whole process on an unreadable RAY_AUTH_TOKEN_PATH in token mode."""
    from nasforge.experiment.executors import ExecutorError, ray_cluster

    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "missing"))
    monkeypatch.setattr(ray_cluster, "_ask_gcs", _gcs(True, []))
    with pytest.raises(ExecutorError, match=f"RAY_AUTH_TOKEN_PATH names {tmp_path / 'missing'}, which is not a "
                                            "readable, non-empty token file"):
        ray_cluster.check_cluster(listening)
