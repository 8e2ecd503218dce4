"""Reaching an existing Ray cluster: its address, its token, its version, checked before a run.

:func:`check_cluster` answers, in about a second and before any trial starts, whether a
cluster at ``ray_address`` will take our driver; each way it can refuse is an
:class:`~nasforge.experiment.executors.base.ExecutorError` saying what to do:

- nothing answers at the address (``no Ray cluster at ...``); ``auto`` found nothing;
- the cluster uses token authentication and we have no token, or the wrong one
  (``the Ray cluster at ... requires a token``);
- it runs another Ray or Python version than this machine (Ray connects only equal ones).

Token authentication (Ray 2.52+): a cluster started with ``RAY_AUTH_MODE=token``, or by
``ray start --head`` where a token exists (``~/.ray/auth_token``, ``RAY_AUTH_TOKEN``,
``RAY_AUTH_TOKEN_PATH``), refuses every client without its token. Ray's driver switches token
mode on by itself only for a cluster it discovers (``auto``), never for an explicit address,
so connecting to ``HOST:PORT`` used to fail (after 20 s of retries, as a plain
``ConnectionError``) until ``RAY_AUTH_MODE=token`` was exported by hand. Here the GCS is asked
first without a token; if it wants one and one is at hand (``ray_token_file``, else Ray's own
sources in its order: ``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH``, ``~/.ray/auth_token``), the
driver connects in token mode. The token itself is never read into a message or a log: only
where it came from is named.

This module uses two of Ray's internals (``ray._raylet.GcsClient`` and its auth ``Config``),
the same calls ``ray.init`` makes; Ray is imported only when a cluster is checked. With a Ray
older than 2.52 (no token authentication) the token steps are skipped.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import re
import socket
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nasforge.experiment.executors.base import ExecutorError

AUTH_MODE = "RAY_AUTH_MODE"
TOKEN = "RAY_AUTH_TOKEN"
TOKEN_PATH = "RAY_AUTH_TOKEN_PATH"
#: what a user does to give nasforge the token of a cluster
WHERE_TOKENS_ARE = ("set RAY_AUTH_TOKEN to it, or pass a file holding it with --ray-token-file (config: "
                    "ray_token_file); `ray get-auth-token` on the head node prints it")
_PRINTS_IT = "`ray get-auth-token` on the head node prints the cluster's token"
_ADDRESS = re.compile(r"(ray://)?\[?([\w.:-]+?)\]?:(\d{1,5})")


@dataclass(frozen=True)
class ClusterAccess:
    """How to connect: the cluster's ``host:port`` and the environment changes (auth) it needs.

    ``env`` maps a variable to its value, or to ``None`` to unset it; it names where the token
    is, never the token.
    """

    address: str
    env: Mapping[str, str | None] = field(default_factory=dict)
    #: where the token comes from (for messages), or None when the cluster wants none
    token_source: str | None = None


def check_address(address: str) -> None:
    """``address`` is ``auto``, ``HOST:PORT`` or ``ray://HOST:PORT`` (else a ValueError saying so)."""
    if address != "auto" and not _ADDRESS.fullmatch(address):
        raise ValueError(f"expected auto (the cluster Ray's own discovery finds), HOST:PORT of the "
                         f"head node (e.g. 10.0.0.5:6379) or ray://HOST:PORT (Ray Client); got {address!r}")


def check_token_file(path: str | Path) -> Path:
    """``path`` as a readable, non-empty file (Ray aborts the process on an unreadable token file)."""
    path = Path(path).expanduser()
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ExecutorError(f"ray_token_file: {path} does not exist ({_PRINTS_IT})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ExecutorError(f"ray_token_file: cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if not text.strip():
        raise ExecutorError(f"ray_token_file: {path} is empty ({_PRINTS_IT})")
    return path.resolve()


def ray_token_source() -> str | None:
    """Where Ray itself would take a token from, in its order, or ``None`` (never the token)."""
    if os.environ.get(TOKEN, "").strip():
        return TOKEN
    named = os.environ.get(TOKEN_PATH)
    if named:
        check = Path(named).expanduser()
        if not (check.is_file() and os.access(check, os.R_OK) and check.stat().st_size > 0):
            raise ExecutorError(f"{TOKEN_PATH} names {named}, which is not a readable, non-empty token file "
                                f"({_PRINTS_IT})")
        return f"{TOKEN_PATH} ({named})"
    default = Path.home() / ".ray" / "auth_token"
    if default.is_file() and os.access(default, os.R_OK) and default.stat().st_size > 0:
        return str(default)
    return None


def ray_version() -> str:
    try:
        return importlib.metadata.version("ray")
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def no_cluster(address: str, cause: str) -> str:
    """The message for an address where no Ray cluster answers."""
    port = _ADDRESS.fullmatch(address)
    start = f"`ray start --head --port={port.group(3)}`" if port and not port.group(1) else "`ray start --head`"
    return (f"no Ray cluster at {address}: {cause.strip().rstrip('.')}. Start one with {start} on that machine, "
            "or check the host and the port (the head node's GCS port: 6379 unless `ray start --port` chose "
            "another; ray://HOST:10001 for Ray Client, which needs 'ray[client]'); `ray status` on the head node "
            "shows whether it is up")


def needs_token(address: str, source: str | None) -> str:
    """The message for a cluster that refused us for want of the right token (``source``: where
    the refused one came from; ``None``: none was found)."""
    head = f"the Ray cluster at {address} requires a token (token authentication)"
    if source is None:
        return f"{head} and none was found here: {WHERE_TOKENS_ARE}"
    return f"{head} and refused the one from {source}, which is not the cluster's token: {WHERE_TOKENS_ARE}"


def version_mismatch(address: str, cluster: Mapping[str, Any]) -> str | None:
    """The message for a cluster of another Ray (or Python) version than ours, or ``None``.

    Python is compared to the level Ray compares it (``RAY_DEFAULT_PYTHON_VERSION_MATCH_LEVEL``:
    ``patch`` by default, or ``minor``).
    """
    theirs_ray, theirs_py = str(cluster.get("ray_version")), str(cluster.get("python_version"))
    ours_ray, ours_py = ray_version(), ".".join(map(str, sys.version_info[:3]))
    level = 2 if os.environ.get("RAY_DEFAULT_PYTHON_VERSION_MATCH_LEVEL", "patch") == "minor" else 3
    if theirs_ray == ours_ray and theirs_py.split(".")[:level] == ours_py.split(".")[:level]:
        return None
    return (f"Ray version mismatch: the cluster at {address} runs Ray {theirs_ray} on Python {theirs_py}, this "
            f"machine Ray {ours_ray} on Python {ours_py}, and Ray connects only equal versions: install "
            f"ray=={theirs_ray} here under Python {theirs_py}, or start the cluster with Ray {ours_ray}")


def check_cluster(address: str, token_file: str | Path | None = None, timeout: float = 5.0) -> ClusterAccess:
    """Find the cluster at ``address`` (``auto``: Ray's discovery), check that it answers, that we
    hold the token it wants and that it runs our versions; raise ExecutorError otherwise.

    The GCS is asked without a token first: a driver in token mode cannot serve the workers of
    a cluster without authentication (its actors never start), so token mode is switched on
    only for a cluster that refuses us without one.
    """
    try:
        check_address(address)
    except ValueError as exc:
        raise ExecutorError(f"ray_address: {exc}") from None
    token_path = check_token_file(token_file) if token_file is not None else None
    resolved = _resolve(address)
    match = _ADDRESS.fullmatch(resolved)
    assert match is not None
    host, port = match.group(2), int(match.group(3))
    shown = resolved if address == resolved else f"{resolved} (ray_address {address})"
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise ExecutorError(no_cluster(shown, exc.strerror or str(exc) or type(exc).__name__)) from None
    with_file: dict[str, str | None] = ({AUTH_MODE: "token", TOKEN_PATH: str(token_path), TOKEN: None}
                                       if token_path is not None else {})
    if match.group(1):  # Ray Client: its server, not the GCS, answers there; ray.init judges the rest
        return ClusterAccess(resolved, with_file, f"--ray-token-file {token_path}" if token_path else None)
    explicit = (os.environ.get(AUTH_MODE) or "").lower()
    env: dict[str, str | None] = {AUTH_MODE: "disabled"} if explicit == "token" else {}
    source: str | None = None
    outcome = _ask_gcs(resolved, env)
    if outcome == "auth":
        if token_path is not None:
            env, source = with_file, f"--ray-token-file {token_path}"
        else:
            env, source = {AUTH_MODE: "token"}, ray_token_source()
        if source is None:
            raise ExecutorError(needs_token(shown, None))
        outcome = _ask_gcs(resolved, env)
        if outcome == "auth":
            raise ExecutorError(needs_token(shown, source))
    if isinstance(outcome, str):
        raise ExecutorError(no_cluster(shown, f"the port answers but not as a Ray cluster ({outcome})"))
    mismatch = version_mismatch(shown, outcome) if outcome else None
    if mismatch:
        raise ExecutorError(mismatch)
    return ClusterAccess(resolved, env, source)


def _resolve(address: str) -> str:
    """``auto`` as the ``host:port`` Ray's own discovery finds (``RAY_ADDRESS``, then the cluster
    the last ``ray start`` on this machine recorded); other addresses as they are."""
    if address != "auto":
        return address
    from ray._private.services import canonicalize_bootstrap_address

    nothing = ("no Ray cluster found for ray_address 'auto': RAY_ADDRESS is not set and no Ray cluster runs on "
               "this machine; start one with `ray start --head`, or give the head node's HOST:PORT")
    named = os.environ.get("RAY_ADDRESS")
    try:
        found = canonicalize_bootstrap_address("auto")
    except ConnectionError:
        raise ExecutorError(nothing) from None
    except ValueError as exc:
        raise ExecutorError(f"ray_address 'auto': RAY_ADDRESS={named!r} is not HOST:PORT ({exc})") from None
    if not found or not _ADDRESS.fullmatch(found):
        raise ExecutorError(nothing if not named else f"ray_address 'auto': RAY_ADDRESS={named!r} is not HOST:PORT")
    return found


def _ask_gcs(address: str, env: Mapping[str, str | None]) -> dict[str, Any] | str:
    """The cluster's metadata (versions) from its GCS under ``env``; ``"auth"`` if it wants
    another token; another string (the cause) if the port is not a Ray GCS."""
    from ray._raylet import GcsClient

    try:
        from ray.exceptions import AuthenticationError
    except ImportError:  # a Ray before token authentication (2.52)
        AuthenticationError = type("AuthenticationError", (Exception,), {})  # noqa: N806 - never raised

    with auth_environment(env), _quiet_stderr():
        try:
            client = GcsClient(address=address)
            raw = client.internal_kv_get(b"CLUSTER_METADATA", namespace=b"cluster", timeout=10)
        except AuthenticationError:
            return "auth"
        except Exception as exc:  # noqa: BLE001 - Ray raises several kinds here
            text = str(exc).strip().splitlines()
            if any(word in " ".join(text) for word in ("Unauthenticated", "InvalidAuthToken")):
                return "auth"
            return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
    try:
        return json.loads(raw.decode()) if raw else {}
    except (ValueError, UnicodeDecodeError):
        return {}


@contextlib.contextmanager
def auth_environment(env: Mapping[str, str | None]) -> Iterator[None]:
    """Apply ``env`` (auth variables) for the block, with Ray's auth config reloaded both ways."""
    previous = apply_environment(env)
    try:
        yield
    finally:
        apply_environment(previous)


def apply_environment(env: Mapping[str, str | None]) -> dict[str, str | None]:
    """Set (or, for ``None``, unset) the variables of ``env`` and make Ray read them again;
    returns what they were, for undoing it."""
    previous = {name: os.environ.get(name) for name in env}
    if not env:
        return previous
    for name, value in env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    try:
        from ray._raylet import AuthenticationTokenLoader, Config
    except ImportError:  # a Ray before token authentication (2.52): nothing to reload
        return previous
    Config.initialize("")  # the auth mode is read from the environment into Ray's config
    AuthenticationTokenLoader.instance().reset_cache()
    return previous


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Ray's C++ client logs each refused attempt to file descriptor 2; our message says it better."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
