"""Kind `stylegan` through the HTTP API (in-process app): mapping then synthesis, truncation
in W per request, labels as one-hot c, the walk in W, and every refusal.

Tiny hand-made graphs (tests/onnx_models.py) whose numpy reference gives the exact images;
tests/test_import_stylegan.py serves a snapshot imported by the project's own nets.
"""

from __future__ import annotations

import asyncio
import base64
import io

import numpy as np
import pytest
from onnx_models import make_stylegan, stylegan_reference
from PIL import Image

from service.imaging import to_uint8
from service.latents import latents, lerp, slerp

pytestmark = pytest.mark.anyio


@pytest.fixture
def weights(models_dir) -> dict[str, dict[str, np.ndarray]]:
    """Two StyleGANs beside the usual models: `faces` (no classes, psi 0.7) and `digits`
    (three classes). Tests name it before the client, which loads the folder."""
    return {
        "faces": make_stylegan(models_dir / "faces", psi=0.7),
        "digits": make_stylegan(models_dir / "digits", c_dim=3, seed=4),
    }


def _pixels(body: dict) -> np.ndarray:
    return np.stack(
        [np.asarray(Image.open(io.BytesIO(base64.b64decode(i["png"])))) for i in body["images"]]
    )


def _expected(weights, seeds: list[int], labels: list[int] | None, psi: float) -> np.ndarray:
    c = None if labels is None else np.eye(3, dtype=np.float32)[labels]
    _, images = stylegan_reference(weights, latents(seeds, 8), c, np.full(len(seeds), psi))
    return to_uint8(images.astype(np.float32))


def _close(got: np.ndarray, want: np.ndarray) -> None:
    """Equal but for float rounding at a pixel boundary (ORT's sums differ from numpy's)."""
    assert got.shape == want.shape
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1


async def test_generate_draws_mapping_then_synthesis_with_the_models_psi(weights, client) -> None:
    r = await client.post("/generate", json={"model": "faces", "n": 4, "seed": 10})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [i["seed"] for i in body["images"]] == [10, 11, 12, 13]
    assert body["images"][0]["label"] is None
    _close(_pixels(body), _expected(weights["faces"], [10, 11, 12, 13], None, 0.7))


async def test_truncation_psi_per_request_and_requests_with_different_psi_share_nothing(
    weights, client
) -> None:
    one = await client.post(
        "/generate", json={"model": "faces", "n": 2, "seed": 5, "truncation_psi": 0.0}
    )
    _close(_pixels(one.json()), _expected(weights["faces"], [5, 6], None, 0.0))
    # psi 0 is the average image: every seed gives it
    assert one.json()["images"][0]["png"] == one.json()["images"][1]["png"]
    other = await client.post(
        "/generate", json={"model": "faces", "n": 1, "seed": 5, "truncation_psi": -1.5}
    )
    _close(_pixels(other.json()), _expected(weights["faces"], [5], None, -1.5))


async def test_a_seed_gives_the_same_image_alone_or_among_concurrent_strangers(
    weights, client
) -> None:
    alone = (await client.post("/generate", json={"model": "faces", "seed": 7})).json()
    crowd = await asyncio.gather(
        *[
            client.post(
                "/generate", json={"model": "faces", "n": 5, "seed": s, "truncation_psi": 0.5}
            )
            for s in range(0, 20, 5)
        ],
        client.post("/generate", json={"model": "faces", "n": 3, "seed": 6}),
    )
    assert crowd[-1].json()["images"][1] == alone["images"][0]


async def test_labels_are_one_hot_c_by_index_name_or_seed(weights, client) -> None:
    r = await client.post(
        "/generate", json={"model": "digits", "n": 3, "seed": 1, "labels": ["k2", 0, 1]}
    )
    body = r.json()
    assert [i["label"] for i in body["images"]] == [2, 0, 1]
    assert [i["class_name"] for i in body["images"]] == ["k2", "k0", "k1"]
    _close(_pixels(body), _expected(weights["digits"], [1, 2, 3], [2, 0, 1], 1.0))
    r = await client.post("/generate", json={"model": "digits", "n": 3, "seed": 4})
    assert [i["label"] for i in r.json()["images"]] == [1, 2, 0]  # seed % c_dim


@pytest.mark.parametrize("method", ["lerp", "slerp"])
async def test_interpolate_walks_w_between_the_mapped_ends(weights, client, method) -> None:
    r = await client.post(
        "/interpolate",
        json={
            "model": "digits",
            "seed_a": 3,
            "seed_b": 9,
            "steps": 5,
            "method": method,
            "label": 2,
            "truncation_psi": 0.8,
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    c = np.eye(3, dtype=np.float32)[[2, 2]]
    ws, _ = stylegan_reference(weights["digits"], latents([3, 9], 8), c, np.full(2, 0.8))
    mix = slerp if method == "slerp" else lerp
    a, b = ws[0].ravel(), ws[1].ravel()
    path = np.stack([mix(a, b, t) for t in np.linspace(0, 1, 5)]).reshape(5, *ws.shape[1:])
    flat = path.reshape(5, -1).astype(np.float32)
    images = np.tanh(flat @ weights["digits"]["B"]).reshape(5, 3, 8, 8)
    _close(_pixels(body), to_uint8(images.astype(np.float32)))
    assert [i["seed"] for i in body["images"]] == [3, 3, 9, 9, 9]
    # the ends are the seeds' own images
    end = await client.post(
        "/generate",
        json={"model": "digits", "seed": 9, "label": 2, "truncation_psi": 0.8},
    )
    assert body["images"][-1]["png"] == end.json()["images"][0]["png"]


async def test_models_shows_the_stylegan_and_its_sessions(weights, client) -> None:
    r = await client.get("/models/digits")
    info = r.json()
    assert info["state"] == "ready"
    assert info["kind"] == "stylegan"
    assert info["stylegan"]["architecture"] == "stylegan2"
    assert info["stylegan"]["resolution"] == 8
    assert info["stylegan"]["num_ws"] == 4
    assert info["stylegan"]["c_dim"] == 3
    assert set(info["sessions"]) == {"mapping", "synthesis"}
    defaults = (await client.get("/models")).json()["defaults"]
    assert defaults["stylegan"] == "digits"  # the first ready one, by name


async def test_a_psi_without_any_stylegan_is_the_wrong_kind_not_a_wait(client) -> None:
    r = await client.post("/generate", json={"truncation_psi": 0.5})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "wrong_kind"
    assert "none is served here" in r.json()["error"]["message"]


async def test_a_psi_alone_picks_the_default_stylegan(weights, client) -> None:
    r = await client.post("/generate", json={"truncation_psi": 0.5})
    assert r.json()["model"] == "digits"
    r = await client.post("/generate", json={"n": 1})
    assert r.json()["model"] == "uncond"  # the other kinds keep their defaults


@pytest.mark.parametrize(
    ("body", "status", "code", "words"),
    [
        ({"model": "faces", "label": 1}, 400, "wrong_kind", "without classes"),
        ({"model": "faces", "truncation": 0.5}, 400, "wrong_kind", "truncation_psi"),
        ({"model": "uncond", "truncation_psi": 0.5}, 400, "wrong_kind", "StyleGAN"),
        ({"model": "digits", "label": 3}, 422, "label_out_of_range", "0..2"),
        ({"model": "digits", "label": "k9"}, 422, "unknown_class", "k9"),
        ({"model": "faces", "truncation_psi": 2.5}, 422, "invalid_request", "truncation_psi"),
        ({"model": "faces", "truncation_psi": "0.5"}, 422, "invalid_request", "truncation_psi"),
    ],
)
async def test_refusals(weights, client, body, status, code, words) -> None:
    r = await client.post("/generate", json=body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code
    assert words in error["message"]


async def test_a_stylegan_synthesis_reserves_memory_and_its_rows_per_run_are_bounded(
    weights, app_client
) -> None:
    """The synthesis batcher holds as many rows as half the budget's room allows, and its
    runs reserve their measured peak; the mapping keeps its arena and reserves nothing."""
    async with app_client() as client:
        svc = client._transport.app.state.services  # type: ignore[attr-defined]
        model = svc.repository.models["faces"]
        synthesis, mapping = model.batchers["synthesis"], model.batchers["mapping"]
        assert synthesis._memory is svc.repository.memory
        assert mapping._memory is None
        unit = synthesis.estimate.unit_bytes
        if unit:  # measured where /proc allows (Linux)
            room = svc.repository.memory.budget_bytes
            assert synthesis.max_batch <= max(1, room // 2 // unit)
        assert synthesis.name == "faces:synthesis"


async def test_synthesis_rows_per_run_follow_its_measured_peak_and_keep_every_thread(
    weights, app_client, monkeypatch
) -> None:
    """With a measured peak of 64 MiB a row and no room in the budget, a synthesis run holds
    one row (the mapping its max_batch), the run-peak gauge says one row's peak, and the
    synthesis keeps intra_op_threads where the thread timing would pick one."""
    from service.engine.admission import WorkEstimate
    from service.repository import loading

    def cost(runner, probe, headroom):
        return WorkEstimate(unit_s=1e-4, unit_bytes=64 << 20, headroom=headroom)

    monkeypatch.setattr(loading, "measured_cost", cost)
    monkeypatch.setattr(loading, "fewer_threads_if_faster", lambda session, *a, **k: (session, 1))
    async with app_client(memory_budget_mb=1, intra_op_threads=2) as client:
        svc = client._transport.app.state.services  # type: ignore[attr-defined]
        model = svc.repository.models["faces"]
        assert model.batchers["synthesis"].max_batch == 1
        assert model.batchers["mapping"].max_batch == 16
        assert (model.runners["synthesis"].threads, model.runners["mapping"].threads) == (2, 1)
        text = (await client.get("/metrics")).text
        gauge = 'ganserve_session_run_peak_bytes{model="faces:synthesis"} '
        line = next(x for x in text.splitlines() if x.startswith(gauge))
        assert float(line.removeprefix(gauge)) == 64 << 20


# -- a StyleGAN3's input transform (translate, rotate) -----------------------------------------

# `waves`' stored input transform: not the identity, as a snapshot's buffer may be
STORED = np.array([[0.8, -0.6, 0.1], [0.6, 0.8, -0.2], [0.0, 0.0, 1.0]], np.float32)


def _nvidia_buffer(translate: tuple[float, float], degrees: float) -> np.ndarray:
    """What NVIDIA's gen_images.py writes into the transform buffer for --translate and
    --rotate: the inverse of its make_transform matrix (written here from its definition)."""
    a = np.deg2rad(degrees)
    m = np.array(
        [
            [np.cos(a), np.sin(a), translate[0]],
            [-np.sin(a), np.cos(a), translate[1]],
            [0.0, 0.0, 1.0],
        ]
    )
    return np.linalg.inv(m).astype(np.float32)


@pytest.fixture
def sg3(models_dir) -> dict[str, np.ndarray]:
    """`waves`: a StyleGAN3-T whose synthesis takes `transform`, its stored one `STORED`;
    `old3`: a StyleGAN3-R exported before synthesis took it."""
    return {
        "waves": make_stylegan(
            models_dir / "waves", psi=0.6, architecture="stylegan3-t", transform=STORED
        ),
        "old3": make_stylegan(models_dir / "old3", architecture="stylegan3-r", seed=5),
    }


def _expected_moved(weights, seeds: list[int], psi: float, buffers: np.ndarray) -> np.ndarray:
    z = latents(seeds, 8)
    transform = np.broadcast_to(buffers, (len(seeds), 3, 3))
    _, images = stylegan_reference(weights, z, None, np.full(len(seeds), psi), transform)
    return to_uint8(images.astype(np.float32))


async def test_a_stylegan3_is_fed_its_stored_transform_by_default(sg3, client) -> None:
    r = await client.post("/generate", json={"model": "waves", "n": 3, "seed": 2})
    assert r.status_code == 200, r.text
    _close(_pixels(r.json()), _expected_moved(sg3["waves"], [2, 3, 4], 0.6, STORED))
    info = (await client.get("/models/waves")).json()
    assert info["stylegan"]["transform"] == STORED.tolist()
    assert [a["name"] for a in info["sessions"]["synthesis"]["inputs"]] == ["ws", "transform"]


@pytest.mark.parametrize(
    ("translate", "rotate"), [((0.25, -0.5), 30.0), ((0.0, 0.0), None), (None, -90.0)]
)
async def test_translate_and_rotate_replace_the_buffer_as_gen_images_does(
    sg3, client, translate, rotate
) -> None:
    """Any of them given: the buffer is inv(make_transform(translate, rotate)), the stored
    one no more (a [0, 0] translation alone is the identity)."""
    body = {"model": "waves", "n": 2, "seed": 9, "truncation_psi": 0.5}
    body |= {"translate": translate} if translate is not None else {}
    body |= {"rotate": rotate} if rotate is not None else {}
    r = await client.post("/generate", json=body)
    assert r.status_code == 200, r.text
    buffer = _nvidia_buffer(translate or (0.0, 0.0), rotate or 0.0)
    _close(_pixels(r.json()), _expected_moved(sg3["waves"], [9, 10], 0.5, buffer))


async def test_the_walk_moves_every_step_alike(sg3, client) -> None:
    body = {"model": "waves", "seed_a": 1, "seed_b": 4, "steps": 3, "method": "lerp"}
    r = await client.post("/interpolate", json={**body, "rotate": 45.0, "translate": [0.1, 0]})
    assert r.status_code == 200, r.text
    ws, _ = stylegan_reference(sg3["waves"], latents([1, 4], 8), None, np.full(2, 0.6))
    path = np.stack([lerp(ws[0], ws[1], t) for t in (0.0, 0.5, 1.0)]).reshape(3, -1)
    moved = _nvidia_buffer((0.1, 0.0), 45.0).reshape(1, 9)
    y = path @ sg3["waves"]["B"] + moved @ sg3["waves"]["T"]
    _close(_pixels(r.json()), to_uint8(np.tanh(y).reshape(3, 3, 8, 8).astype(np.float32)))
    still = await client.post("/generate", json={"model": "waves", "seed": 4})
    assert (await client.post("/interpolate", json=body)).json()["images"][-1] == still.json()[
        "images"
    ][0]


async def test_a_folder_exported_before_the_transform_serves_and_refuses_moves(sg3, client) -> None:
    r = await client.post("/generate", json={"model": "old3", "seed": 3})
    assert r.status_code == 200, r.text
    _close(_pixels(r.json()), _expected(sg3["old3"], [3], None, 1.0))
    r = await client.post(
        "/interpolate", json={"model": "old3", "seed_a": 1, "seed_b": 2, "rotate": 5}
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "transform_unavailable"
    assert "import its snapshot again" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "status", "code", "words"),
    [
        ({"model": "faces", "rotate": 10}, 400, "wrong_kind", "StyleGAN2"),
        ({"model": "uncond", "translate": [0.1, 0.1]}, 400, "wrong_kind", "translate is for"),
        ({"model": "old3", "translate": [0.1, 0.1]}, 400, "transform_unavailable", "old3"),
        ({"model": "waves", "translate": [2.5, 0]}, 422, "invalid_request", "translate"),
        ({"model": "waves", "translate": [0.1]}, 422, "invalid_request", "translate"),
        ({"model": "waves", "rotate": 361}, 422, "invalid_request", "rotate"),
        ({"model": "waves", "rotate": "90"}, 422, "invalid_request", "rotate"),
    ],
)
async def test_move_refusals(weights, sg3, client, body, status, code, words) -> None:
    r = await client.post("/generate", json=body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code
    assert words in error["message"]


async def test_a_move_without_any_stylegan_is_the_wrong_kind(client) -> None:
    r = await client.post("/generate", json={"rotate": 10})
    assert r.status_code == 400
    assert r.json()["error"]["message"].startswith("rotate is for StyleGAN models")


def _v2_inputs(arrays: dict[str, np.ndarray]) -> list[dict]:
    types = {np.dtype(np.float32): "FP32", np.dtype(np.int64): "INT64"}
    return [
        {"name": k, "shape": list(v.shape), "datatype": types[v.dtype], "data": v.ravel().tolist()}
        for k, v in arrays.items()
    ]


async def test_v2_takes_translate_and_rotate_per_row(weights, sg3, client) -> None:
    meta = (await client.get("/v2/models/waves")).json()
    assert [i["name"] for i in meta["inputs"]] == ["z", "psi", "translate", "rotate"]
    moves = {
        "seed": np.array([5, 6, 7], np.int64),
        "translate": np.array([[0.0, 0.0], [0.5, 0.0], [0.0, -1.0]], np.float32),
        "rotate": np.array([0.0, 0.0, 120.0], np.float32),
    }
    body = {"inputs": _v2_inputs(moves), "outputs": [{"name": "pixels"}]}
    r = await client.post("/v2/models/waves/infer", json=body)
    assert r.status_code == 200, r.text
    pixels = np.array(r.json()["outputs"][0]["data"], np.uint8).reshape(3, 8, 8, 3)
    buffers = np.stack(
        [_nvidia_buffer(t, a) for t, a in zip(moves["translate"], moves["rotate"], strict=True)]
    )
    _close(pixels, _expected_moved(sg3["waves"], [5, 6, 7], 0.6, buffers))
    far = {"seed": np.array([5], np.int64), "rotate": np.array([400.0], np.float32)}
    r = await client.post("/v2/models/waves/infer", json={"inputs": _v2_inputs(far)})
    assert r.status_code == 400 and "outside [-360, 360]" in r.text
    for model in ("faces", "old3"):
        r = await client.post(f"/v2/models/{model}/infer", json={"inputs": _v2_inputs(far)})
        assert r.status_code == 400 and "takes no input ['rotate']" in r.text
