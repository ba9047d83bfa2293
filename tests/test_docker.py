"""The image built from the repository's Dockerfile (CPU variant), run in a real Docker engine.

Containers use the host network and listen on 127.0.0.1 only; each is removed when its test
ends. Skips, saying how to run them, where no Docker engine answers.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from docker_support import (
    ROOT,
    Image,
    Load,
    container,
    docker,
    free_port,
    inspect,
    make_mountable,
    report,
    wait_for,
)
from onnx_models import make_models_dir, make_unconditional
from PIL import Image as Pillow

pytestmark = [pytest.mark.docker, pytest.mark.slow]

STOP_GRACE_S = 30  # compose's stop_grace_period


@dataclass(frozen=True)
class Running:
    cid: str
    url: str
    ready_s: float


@contextmanager
def serving(image: Image, *run_args: str) -> Iterator[Running]:
    """The image's own command on a free loopback port, once `/readyz` answers 200."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = ("-e", "GANSERVE_HOST=127.0.0.1", "-e", f"GANSERVE_PORT={port}")
    # On the host's network the image's gRPC port (8001) is one per machine, and the module's
    # containers overlap: each gets a free one.
    env += ("-e", f"GANSERVE_GRPC_PORT={free_port()}")
    with container(image.tag, *env, *run_args) as cid:

        def is_ready() -> bool:
            assert inspect(cid, "{{.State.Running}}") == "true", docker("logs", cid)
            return httpx.get(f"{url}/readyz", timeout=5).status_code == 200

        yield Running(cid, url, wait_for("/readyz", is_ready, timeout=120))


@pytest.fixture(scope="module")
def shipped(ganserve_image: Image, pytestconfig: pytest.Config) -> Iterator[Running]:
    """The image with the models it bakes in."""
    with serving(ganserve_image) as running:
        report(pytestconfig, f"docker run to /readyz 200: {running.ready_s:.1f} s")
        yield running


def horse_photo() -> bytes:
    """A real photo at an odd size: a horse from the shipped model's gallery, as a JPEG."""
    gallery = Pillow.open(ROOT / "models/cyclegan-horse2zebra/gallery.png").convert("RGB")
    out = io.BytesIO()
    gallery.crop((132, 4, 254, 106)).save(out, "JPEG", quality=90)  # 122 x 102
    return out.getvalue()


def test_generate_16_images_of_class_3(shipped: Running) -> None:
    r = httpx.post(f"{shipped.url}/generate", json={"n": 16, "label": 3}, timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "cgan-mnist"
    assert len(body["images"]) == 16
    assert {image["label"] for image in body["images"]} == {3}
    size = json.loads((ROOT / "models/cgan-mnist/model.json").read_text())["image"]
    for image in body["images"]:
        png = Pillow.open(io.BytesIO(base64.b64decode(image["png"])))
        assert png.size == (size["width"], size["height"])


def test_translate_a_photo_at_its_own_size(shipped: Running) -> None:
    photo = horse_photo()
    r = httpx.post(
        f"{shipped.url}/translate", files={"file": ("horse.jpg", photo, "image/jpeg")}, timeout=60
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    out = Pillow.open(io.BytesIO(r.content))
    assert out.size == Pillow.open(io.BytesIO(photo)).size == (122, 102)
    assert out.mode == "RGB"


def test_runs_as_the_non_root_user(shipped: Running) -> None:
    assert inspect(shipped.cid, "{{.Config.User}}") == "10001:10001"
    assert docker("exec", shipped.cid, "id", "-u").strip() == "10001"
    status = docker("exec", shipped.cid, "cat", "/proc/1/status")
    uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
    assert set(uids) == {"10001"}  # PID 1, python, has no root ids left


def test_healthcheck_turns_healthy(shipped: Running) -> None:
    """The image's own HEALTHCHECK (first run after its 15 s interval)."""
    wait_for(
        "health status healthy",
        lambda: inspect(shipped.cid, "{{.State.Health.Status}}") == "healthy",
        timeout=60,
        every=1,
    )
    log = inspect(shipped.cid, "{{range .State.Health.Log}}{{.ExitCode}} {{end}}").split()
    assert log[-1] == "0"  # earlier runs may fail inside the 60 s start period


def test_the_build_ca_stays_out_of_the_image(ganserve_image: Image) -> None:
    """EXTRA_CA_CERTS reached pip in the build stage only."""
    if not ganserve_image.extra_ca:
        pytest.skip("this machine trusts no certificate the base image lacks")
    marker = ganserve_image.extra_ca.splitlines()[1]  # the first base64 line of a certificate
    history = docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", ganserve_image.tag)
    assert "EXTRA_CA_CERTS" not in history and marker not in history
    config = docker("image", "inspect", "--format", "{{json .Config}}", ganserve_image.tag)
    assert marker not in config
    bundle = docker(
        "run", "--rm", "--network", "none", "--entrypoint", "cat", ganserve_image.tag,
        "/etc/ssl/certs/ca-certificates.crt",
    )  # fmt: skip
    assert marker not in bundle


def test_docker_stop_during_load_answers_every_accepted_request(
    ganserve_image: Image, pytestconfig: pytest.Config
) -> None:
    with serving(ganserve_image) as running:
        body = {"n": 8, "seed": 1}
        with Load(f"{running.url}/generate", body, clients=4) as load:
            time.sleep(3)
            before = load.tally.answered
            start = time.monotonic()
            docker("stop", "-t", str(STOP_GRACE_S), running.cid, timeout=STOP_GRACE_S + 30)
            stop_s = time.monotonic() - start
            time.sleep(1)
        tally = load.tally
        exit_code = inspect(running.cid, "{{.State.ExitCode}}")
    report(
        pytestconfig,
        f"docker stop under load: {stop_s:.2f} s; {tally.answered} answered "
        f"({tally.answered - before} after SIGTERM was due), {tally.refused} refused, "
        f"{tally.reset} reset from the listen backlog, {len(tally.dropped)} dropped",
    )
    assert before > 0
    assert tally.dropped == []
    assert set(tally.statuses) == {200}
    assert exit_code == "0"  # stopped by SIGTERM, not killed
    assert stop_s < STOP_GRACE_S


def reload(url: str) -> dict[str, str]:
    r = httpx.post(f"{url}/admin/reload", timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["results"]


def states(url: str) -> dict[str, str]:
    return {m["name"]: m["state"] for m in httpx.get(f"{url}/models", timeout=10).json()["models"]}


def test_read_only_models_mount_reloads_new_and_reports_corrupt(
    ganserve_image: Image, tmp_path: Path
) -> None:
    models = make_mountable(make_models_dir(tmp_path / "models"))
    with serving(ganserve_image, "-v", f"{models}:/app/models:ro") as running:
        url = running.url
        assert states(url) == {"uncond": "ready", "cond": "ready", "trans": "ready"}
        mounts = inspect(running.cid, "{{range .Mounts}}{{.Destination}} {{.RW}}{{end}}")
        assert mounts == "/app/models false"
        touch = subprocess.run(
            ["docker", "exec", "-u", "0", running.cid, "touch", "/app/models/x"],
            capture_output=True,
            text=True,
        )
        assert touch.returncode != 0 and "Read-only file system" in touch.stderr

        # A new model dropped in on the host, then a reload: served.
        staged = make_unconditional(tmp_path / "staging" / "fresh", seed=5)
        shutil.copytree(staged, models / "fresh")
        make_mountable(models)
        assert reload(url)["fresh"] == "loaded"
        r = httpx.post(f"{url}/generate", json={"model": "fresh", "n": 2}, timeout=30)
        assert r.status_code == 200, r.text

        # A corrupt one: reported failed, every other model keeps serving.
        shutil.copytree(staged, models / "broken")
        (models / "broken" / "generator.onnx").write_bytes(b"not an onnx file")
        make_mountable(models)
        assert reload(url)["broken"].startswith("failed")
        assert states(url) == {
            "uncond": "ready",
            "cond": "ready",
            "trans": "ready",
            "fresh": "ready",
            "broken": "failed",
        }
        for name in ("uncond", "fresh"):
            r = httpx.post(f"{url}/generate", json={"model": name, "n": 2}, timeout=30)
            assert r.status_code == 200, r.text
        r = httpx.post(f"{url}/generate", json={"model": "broken", "n": 2}, timeout=30)
        assert r.status_code == 503 and r.json()["error"]["code"] == "model_not_ready"
