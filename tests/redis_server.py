"""A real ``redis-server`` for the tests of the Redis online state (no mock).

The session fixture ``redis_url`` starts ``redis-server`` on 127.0.0.1 at a free port with
persistence off, waits until it answers PING, yields its URL and stops it at the end of the
session. Without ``redis-server`` (or redis-py) the tests that use it are skipped, saying
why, unless ``FEATUREDSL_REQUIRE_REDIS=1`` (set by ``.ci/run``), which makes that a failure.
Each test opens its states on namespaces of its own (``fresh_namespace``), so tests sharing
the server never read each other's state.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REQUIRE = "FEATUREDSL_REQUIRE_REDIS"


def _unavailable(why: str) -> None:
    if os.environ.get(REQUIRE) == "1":
        pytest.fail(f"{why}, and {REQUIRE}=1 requires the Redis tests to run")
    pytest.skip(f"{why} (apt-get install redis-server; pip install 'featuredsl[redis]'); "
                f"set {REQUIRE}=1 to make this a failure")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(exe: str, workdir: Path) -> tuple[subprocess.Popen, int]:
    """A server on a free port; a few tries, as another process may take the port first."""
    import redis

    last = ""
    for _ in range(5):
        port = _free_port()
        log = workdir / f"redis-{port}.log"
        proc = subprocess.Popen(
            [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
             "no", "--dir", str(workdir), "--daemonize", "no"],
            stdout=log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if client.ping():
                    client.close()
                    return proc, port
            except redis.RedisError:
                time.sleep(0.05)
        _stop(proc)
        last = log.read_text(errors="replace")[-500:]
    pytest.fail(f"redis-server did not start: {last}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL (``redis://127.0.0.1:PORT/0``) of a redis-server run for this session."""
    exe = shutil.which("redis-server")
    if exe is None:
        _unavailable("redis-server is not installed")
    try:
        import redis  # noqa: F401
    except ImportError:
        _unavailable("redis-py is not installed")
    proc, port = _start(exe, tmp_path_factory.mktemp("redis"))  # type: ignore[arg-type]
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        _stop(proc)


def fresh_namespace(what: str = "t") -> str:
    """A namespace no other test uses."""
    return f"test:{what}:{uuid.uuid4().hex[:12]}"
