"""A real Docker engine for the tests: the images they need, containers they always remove.

Where Docker Hub cannot be reached, each official image is replaced by a stand-in built from
Debian's own packages (mmdebstrap, then `docker import`), with the config paths and commands
the compose files expect. Stand-ins are built once and kept by the engine, so later runs reuse
them. Everything the tests start carries LABEL, and is removed by id when its test ends.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
LABEL = "org.ganserve.test"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
HOW_TO_RUN = (
    "needs a running Docker engine; `make test` with CI=true installs docker.io and starts "
    "dockerd, or start Docker yourself and run `.venv/bin/pytest -m docker`"
)
# The legacy builder: no buildx here, and BuildKit would pull its frontend from Docker Hub.
BUILD_ENV = {**os.environ, "DOCKER_BUILDKIT": "0", "COMPOSE_DOCKER_CLI_BUILD": "0"}


@dataclass(frozen=True)
class StandIn:
    """What replaces an official image: a Debian suite, its packages, the image's settings."""

    tag: str
    suite: str
    packages: tuple[str, ...]
    changes: tuple[str, ...] = ()


# From sid: nginx >= 1.27.3 (`server ... resolve`) and Prometheus 3, like the compose file's.
SID_TOOLS = ("prometheus", "wget", "nginx", "ca-certificates")
STANDINS = {
    "python:3.11-slim-bookworm": StandIn(
        "ganserve-standin/python:3.11-bookworm",
        "bookworm",
        ("python3", "python3-venv", "python-is-python3", "ca-certificates"),
    ),
    "prom/prometheus:v3.5.0": StandIn(
        "ganserve-standin/prometheus:3",
        "sid",
        SID_TOOLS,
        (
            'ENTRYPOINT ["/usr/bin/prometheus"]',
            'CMD ["--config.file=/etc/prometheus/prometheus.yml"]',
            "WORKDIR /prometheus",
            "USER nobody",
        ),
    ),
    "nginx:1.27-alpine": StandIn(
        "ganserve-standin/nginx:1",
        "sid",
        SID_TOOLS,
        ('CMD ["nginx", "-g", "daemon off;"]',),
    ),
}


def docker(*args: str, timeout: float = 120, check: bool = True, env: dict | None = None) -> str:
    """`docker ARGS`: its stdout; a failure shows docker's own message."""
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, env=env
    )
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args[:3])} failed: {result.stderr[-3000:]}")
    return result.stdout


def require_engine() -> None:
    """Skip, saying how to run these tests, unless a Docker engine answers."""
    if shutil.which("docker") is None:
        pytest.skip(f"no docker command: {HOW_TO_RUN}")
    try:
        result = subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except subprocess.TimeoutExpired:
        pytest.skip(f"the Docker engine does not answer: {HOW_TO_RUN}")
    if result.returncode != 0:
        pytest.skip(f"no Docker engine answers ({result.stderr.strip()[:200]}): {HOW_TO_RUN}")


def has_image(name: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", name], capture_output=True).returncode == 0


def image_for(official: str) -> str:
    """The official image if the engine has it or can pull it, else its Debian stand-in."""
    if has_image(official):
        return official
    pulled = subprocess.run(["docker", "pull", "-q", official], capture_output=True, timeout=600)
    if pulled.returncode == 0:
        return official
    standin = STANDINS[official]
    if not has_image(standin.tag):
        build_standin(standin)
    return standin.tag


def build_standin(standin: StandIn) -> None:
    """Debian's packages into a root filesystem (mmdebstrap), imported as this image and as
    every other missing stand-in made of the same packages."""
    if shutil.which("mmdebstrap") is None:
        pytest.skip(
            f"Docker Hub is unreachable and mmdebstrap is missing for the {standin.tag} stand-in "
            "(scripts/install-system-test-deps.sh installs it)"
        )
    # /prometheus: the official image's data folder, writable by its user; Debian's build
    # stores data under /var/lib/prometheus/metrics2 by default, so that points there.
    hook = (
        'mkdir -p "$1/prometheus" && chown 65534:65534 "$1/prometheus" && '
        'mkdir -p "$1/var/lib/prometheus" && rm -rf "$1/var/lib/prometheus/metrics2" && '
        'ln -s /prometheus "$1/var/lib/prometheus/metrics2"'
    )
    with tempfile.TemporaryDirectory() as tmp:
        tar = Path(tmp) / "rootfs.tar"
        subprocess.run(
            [
                "mmdebstrap",
                "--quiet",
                "--variant=minbase",
                # Mirrors frozen in time (this project's machines use one) serve sid's Release
                # past its Valid-Until date; its signature is still checked.
                "--aptopt=Acquire::Check-Valid-Until false",
                f"--include={','.join(standin.packages)}",
                f"--customize-hook={hook}",
                standin.suite,
                str(tar),
            ],
            check=True,
            timeout=1200,
        )
        for other in STANDINS.values():
            same = (other.suite, other.packages) == (standin.suite, standin.packages)
            if other == standin or (same and not has_image(other.tag)):
                changes = [arg for change in other.changes for arg in ("--change", change)]
                label = f"LABEL {LABEL}.standin={other.suite}"
                docker("import", *changes, "--change", label, str(tar), other.tag, timeout=600)


def extra_ca_certs(base: str) -> str:
    """The certificates this machine trusts that the base image does not (for pip's TLS)."""
    if not HOST_CA_BUNDLE.exists():
        return ""
    pattern = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)
    theirs = docker(
        "run", "--rm", "--network", "none", "--entrypoint", "cat", base, str(HOST_CA_BUNDLE),
        check=False,
    )  # fmt: skip
    known = {"".join(cert.split()) for cert in pattern.findall(theirs)}
    ours = pattern.findall(HOST_CA_BUNDLE.read_text())
    return "\n".join(cert for cert in ours if "".join(cert.split()) not in known)


@dataclass(frozen=True)
class Image:
    tag: str
    base: str
    extra_ca: str
    build_s: float
    size_mb: float


def build_ganserve(tag: str = "ganserve-test:cpu") -> Image:
    """The repository's Dockerfile, CPU variant, on the official base or its stand-in."""
    base = image_for("python:3.11-slim-bookworm")
    extra = extra_ca_certs(base)
    start = time.monotonic()
    result = subprocess.run(
        [
            "docker", "build", "--network", "host", "--label", f"{LABEL}=1",
            "--build-arg", "CUDA_LIBS=0",
            "--build-arg", f"PYTHON_IMAGE={base}",
            "--build-arg", f"EXTRA_CA_CERTS={extra}",
            "-t", tag, str(ROOT),
        ],
        capture_output=True, text=True, timeout=1200, env=BUILD_ENV,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    size = int(docker("image", "inspect", "--format", "{{.Size}}", tag).strip())
    return Image(tag, base, extra, time.monotonic() - start, size / 1e6)


def report(config: pytest.Config, line: str) -> None:
    """A measured figure, printed in pytest's output even without -s."""
    capture = config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():
        config.pluginmanager.get_plugin("terminalreporter").write_line(f"[docker] {line}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def container(image: str, *run_args: str, command: tuple[str, ...] = ()) -> Iterator[str]:
    """`docker run -d` on the host network; the container and its volumes go when done."""
    cid = docker("run", "-d", "--network", "host", "--label", LABEL, *run_args, image, *command)
    cid = cid.strip()
    try:
        yield cid
    finally:
        docker("rm", "-f", "-v", cid, check=False)


def make_mountable(models: Path) -> Path:
    """Readable by the image's user (uid 10001), as a models folder a host would share."""
    for path in [models, *models.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return models


def inspect(cid: str, template: str) -> str:
    return docker("inspect", "--format", template, cid).strip()


def wait_for(what: str, check: Callable[[], bool], timeout: float, every: float = 0.2) -> float:
    """Poll `check()` until true; the seconds it took. Fails with `what` after `timeout`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if check():
                return time.monotonic() - start
        except (OSError, httpx.TransportError):
            pass
        time.sleep(every)
    raise AssertionError(f"{what}: not within {timeout} s")


@dataclass
class Tally:
    """What the clients of a Load saw, request by request."""

    statuses: Counter = field(default_factory=Counter)
    refused: int = 0  # the connection was refused: never accepted
    # Reset before any answer: connected in the kernel's listen backlog when the server closed
    # its socket, so never accepted by the server; as safe to retry as a refusal.
    reset: int = 0
    dropped: list[str] = field(default_factory=list)  # accepted, then no complete answer
    slowest_s: float = 0.0

    @property
    def answered(self) -> int:
        return sum(self.statuses.values())


def reset_by_peer(exc: BaseException | None) -> bool:
    while exc is not None:
        if isinstance(exc, ConnectionResetError):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


class WriteTrace:
    """httpcore's trace of one request: whether sending it was reset by the peer.

    httpcore swallows an error writing the request (a server may answer early) and reads
    on; a reset connection then reads as end of stream, "Server disconnected without
    sending a response", as if the server had taken the request and closed. When the
    write itself was reset, the connection sat in the listen backlog as the last listener
    closed, and the server never read the request."""

    def __init__(self) -> None:
        self.reset = False

    def __call__(self, name: str, info: dict) -> None:
        if name.endswith((".send_request_headers.failed", ".send_request_body.failed")):
            self.reset = self.reset or reset_by_peer(info.get("exception"))


class Load:
    """`clients` threads POSTing `body` to `url` in a loop until the block ends. Every request
    opens its own connection, so a refused one (never accepted) is told apart from one that
    was accepted and left without an answer."""

    def __init__(self, url: str, body: dict, clients: int = 4, timeout: float = 60) -> None:
        self.url, self.body, self.timeout = url, body, timeout
        self.tally = Tally()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._client) for _ in range(clients)]

    def _client(self) -> None:
        limits = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(limits=limits, timeout=self.timeout) as client:
            while not self._stop.is_set():
                start = time.monotonic()
                trace = WriteTrace()
                try:
                    status = client.post(
                        self.url, json=self.body, extensions={"trace": trace}
                    ).status_code
                except httpx.ConnectError:
                    with self._lock:
                        self.tally.refused += 1
                    time.sleep(0.05)
                    continue
                except (httpx.ReadError, httpx.RemoteProtocolError) as exc:
                    with self._lock:
                        if reset_by_peer(exc) or trace.reset:
                            self.tally.reset += 1
                        else:
                            self.tally.dropped.append(repr(exc))
                    continue
                except httpx.TransportError as exc:
                    with self._lock:
                        self.tally.dropped.append(repr(exc))
                    continue
                with self._lock:
                    self.tally.statuses[status] += 1
                    self.tally.slowest_s = max(self.tally.slowest_s, time.monotonic() - start)

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
