"""The benchmark scripts run end to end on tiny models made here (`--quick`).

Their figures are measurements, not test results; what is checked is that every part ran
and that what the report says about the servers is self-consistent.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import onnxruntime
import pytest
from onnx_models import make_models_dir
from training_fixtures import tiny_values

from benchmarks.peers import venvs
from training import cli, config
from training.loops import trainer_for

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained-for-2-steps DCGAN and CycleGAN, exported the way models/ is."""
    tmp = tmp_path_factory.mktemp("bench")
    models = tmp / "models"
    for family, name in (("dcgan", "tiny-dcgan"), ("cyclegan", "tiny-h2z")):
        cfg = config.build(tiny_values(family, tmp, steps=2))
        trainer_for(cfg).run()
        assert cli.main(["export", str(cfg.run_dir), "--out", str(models / name)]) == 0
    return models


def run(script: str, *args: str) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]


def test_serve_benchmark_runs_end_to_end(tiny_models: Path, tmp_path: Path) -> None:
    run("serve.py", "--quick", "--models", str(tiny_models), "--out", str(tmp_path))
    report = json.loads((tmp_path / "serve.json").read_text())
    assert report["models"]["generator"] == "tiny-dcgan"
    assert report["models"]["translator"] == "tiny-h2z"
    assert "ONNX initializers" in report["models"]["naive_weights"]  # the served weights
    assert set(report["raw_ort"]["generator"]) == {"1", "8", "16", "32", "64"}
    assert set(report["servers"]) == {"service", "no batching", "naive"}
    for name, results in report["servers"].items():
        assert len(results) == 8, name
        for workload, r in results.items():
            assert set(r["statuses"]) <= {"200"} and not r["errors"], (name, workload, r)
            assert r["server_cpu_cores"] > 0
            # A slow translation may finish no request in a 0.6 s window; generation must.
            assert r["requests"] > 0 or workload.startswith("/translate"), (name, workload)
        assert sum(r["requests"] for w, r in results.items() if w.startswith("/translate")) > 0
    batched = report["servers"]["service"]["/generate n=1, 64 clients"]["mean_batch"]
    assert batched > 1  # 64 clients of one row each share runs
    off = report["servers"]["no batching"]
    assert all(r["mean_batch"] == 1 for r in off.values())  # GANSERVE_MAX_BATCH=1 took effect
    assert report["soak"]["rss_start_mib"] > 0 and report["idle"]["requests"] > 0
    assert report["soak"]["workers"] == len(report["soak"]["samples"]) >= 1
    assert report["idle"]["floor"]["statuses"] == {"200": report["idle"]["floor"]["requests"]}
    assert [t["pass"] in (True, False) for t in report["targets"]] == [True] * 6
    table = (tmp_path / "serve.md").read_text()
    assert table.count("| PASS |") + table.count("| MISS |") == 6


def test_peers_benchmark_runs_ganserve_end_to_end(tiny_models: Path, tmp_path: Path) -> None:
    """Without the peers (their venvs need the network): ganserve at 1 and 2 workers, two
    rounds, /translate, the per-worker soak and the targets."""
    args = ["--quick", "--peers", "--models", str(tiny_models)]  # --quick: a 1 s soak
    run("peers/bench.py", *args, "--out", str(tmp_path))
    report = json.loads((tmp_path / "peers.json").read_text())
    assert report["servers"] == ["ganserve w=1", "ganserve w=2"]
    assert len(report["raw_ort_rounds"]) == 2  # timed again each round; the faster is the limit
    rates = [r["generator"]["64"]["images_per_s"] for r in report["raw_ort_rounds"]]
    assert report["raw_ort"]["generator"]["64"]["images_per_s"] == max(rates)
    for label, rounds in report["runs"].items():
        assert len(rounds) == 2, label
        for results in rounds:
            for workload, r in results.items():
                assert set(r["statuses"]) <= {"200"} and not r["errors"], (label, workload)
                assert r["requests"] > 0 or workload.startswith("/translate"), (label, workload)
    assert len(report["soak"]["workers"]) == 2  # each worker's memory, not the supervisor's
    assert all(w["start_mib"] > 0 for w in report["soak"]["workers"].values())
    assert len(report["targets"]) == 7  # 3 per workers count, and the soak
    table = (tmp_path / "peers.md").read_text()
    assert table.count("| PASS |") + table.count("| MISS |") == 7


def test_peers_get_the_onnx_runtime_release_ganserve_runs_on() -> None:
    assert venvs.runtime_pin() == f"onnxruntime=={onnxruntime.__version__}\n"


def test_big_uploads_benchmark_runs_end_to_end(tiny_models: Path, tmp_path: Path) -> None:
    args = ["--bursts", "3", "--settle-s", "0.5", "--generate-model", "tiny-dcgan"]
    run("big_uploads.py", *args, "--models", str(tiny_models), "--out", str(tmp_path))
    report = json.loads((tmp_path / "big_uploads.json").read_text())
    assert report["rss_mib_after_one_upload"] >= report["rss_mib_at_ready"] > 0
    [burst] = report["runs"]
    assert sum(burst["statuses"].values()) == 3 and "200" in burst["statuses"]
    assert set(burst["statuses"]) <= {"200", "503 overloaded"}
    assert burst["rss_mib_peak"] >= burst["rss_mib_before"] > 0
    assert burst["generate_during_burst"]["requests"] > 0
    assert set(burst["targets"]) == {
        "no timeout answer",
        "peak within the memory budget",
        "60 s after within 20 % of before",
        "/generate p99 < 50 ms",
    }
    assert "| 3 |" in (tmp_path / "big_uploads.md").read_text()


def test_train_benchmark_runs_end_to_end(tmp_path: Path) -> None:
    run("train.py", "--quick", "--threads", "1", "--out", str(tmp_path))
    report = json.loads((tmp_path / "train.json").read_text())
    assert list(report["families"]) == ["dcgan", "cgan", "cyclegan", "toy2d"]
    for family, entry in report["families"].items():
        assert len(entry["runs"]) == 4, family
        for variant, r in entry["runs"].items():
            assert r["images_per_s"] > 0 and r["steps"] >= 2, (family, variant)
            # the settings reached the trainer
            assert r["amp_active"] == ("amp=bf16" in variant)
            assert r["channels_last_active"] == ("channels_last=on" in variant)
    table = (tmp_path / "train.md").read_text()
    assert all(f"| {family} |" in table for family in report["families"])


def test_modes2d_runs_the_training_package_and_records_its_command(tmp_path: Path) -> None:
    out = tmp_path / "modes2d"
    args = ["--seeds", "1", "--datasets", "ring", "--steps", "6", "--workers", "1"]
    run("modes2d.py", *args, "--objectives", "ns-r1", "wgan-gp", "--out", str(out))
    report = json.loads(out.with_suffix(".json").read_text())
    assert [r["objective"] for r in report["runs"]] == ["ns-r1", "wgan-gp"]
    assert [r["discriminator_steps"] for r in report["runs"]] == [6, 30]
    first = report["runs"][0]
    assert first["num_modes"] == 8 and 0 <= first["modes"] <= 8
    # the recorded command, run through the training CLI, logs the same figures
    command = first["command"].split()
    assert command[:6] == ["python", "-m", "training", "train", "toy2d", "--config"]
    sets = [a for a in command[6:] if a != "--set"][1:]
    extra = [f"out_dir={tmp_path / 'runs'}", "progress=false", "sample_every=0"]
    argv = ["train", "toy2d", "--config", str(ROOT / command[6])]
    assert cli.main(argv + [x for s in sets + extra for x in ("--set", s)]) == 0
    lines = (tmp_path / "runs" / "toy2d-ring-48k" / "metrics.jsonl").read_text().splitlines()
    logged = [json.loads(line) for line in lines if "monitor/modes" in line][-1]
    assert logged["monitor/modes"] == first["modes"]
    assert logged["monitor/high_quality"] == first["high_quality"]


def test_stalled_connections_benchmark_runs_end_to_end(tiny_models: Path, tmp_path: Path) -> None:
    args = ["--connections", "20", "--held-at-s", "1", "--give-up-s", "30"]
    run("stalled_connections.py", *args, "--models", str(tiny_models), "--out", str(tmp_path))
    report = json.loads((tmp_path / "stalled_connections.json").read_text())
    headers, body = report["rounds"].values()
    assert headers["answers"] == {"closed": 20} and body["answers"] == {"HTTP/1.1 408": 20}
    assert headers["never_closed"] == body["never_closed"] == 0
    assert headers["still_held"] == body["still_held"] == 20  # at 1 s, inside the timeouts
    assert set(headers["healthz"]) == {"200"}


def test_upscale_benchmark_runs_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "upscale.json"
    run("upscale.py", "--quick", "--repeats", "1", "--out", str(out))
    report = json.loads(out.read_text())
    assert [r["model"] for r in report["runs"]] == ["srvgg-x4", "rrdb-x4"]
    for r in report["runs"]:
        assert r["service"]["answer"] == "1024x768" and r["ratio"] > 0
        assert r["service"]["peak_mib"] < 2048
    assert [s["model"] for s in report["seams"]] == ["srvgg-x4", "rrdb-x4"]
    assert report["seams"][0]["max_abs_uint8"] <= 1  # its reach is within the overlap


def test_stylegan_benchmark_runs_end_to_end(tmp_path: Path) -> None:
    """A tiny StyleGAN2 exported by `import stylegan`, served, and run raw in processes of
    their own; a second run finds the exported folder in --work and skips the export."""
    out, work = tmp_path / "stylegan.json", tmp_path / "work"
    args = ["--quick", "--repeats", "1", "--n", "4", "--work", str(work), "--out", str(out)]
    for cached in (False, True):
        run("stylegan.py", *args)
        [r] = json.loads(out.read_text())["runs"]
        assert r["model"] == "stylegan2-tiny" and r["folder"]["cached"] is cached
        served = r["service"]
        assert served["resolution"] == 32 and served["n"]["n"] == 4
        assert served["peak_mib"] < served["memory_budget_mib"] == 2048
        assert served["n"]["synthesis_rows_per_run"] == 4  # tiny rows: one run holds all
        assert r["raw_ort"]["service_rows"]["images"] == 4 and r["raw_batch_of_n_fits"]
        assert r["ratio_n"] > 0 and r["ratio_n1"] > 0
    folder = work / "stylegan2-tiny" / "models" / "stylegan2-tiny"
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md",
        "mapping.onnx",
        "model.json",
        "samples.png",
        "synthesis.onnx",
    ]


def test_grpc_vs_rest_runs_both_protocols_side_by_side(tmp_path: Path) -> None:
    models = make_models_dir(tmp_path / "models")
    args = ["--quick", "--models", str(models), "--model", "uncond", "--workers", "1"]
    run("grpc_vs_rest.py", *args, "--out", str(tmp_path))
    report = json.loads((tmp_path / "grpc_vs_rest.json").read_text())
    assert set(report["medians"]) == {"n=16, 32 clients", "n=1, 1 client"}
    for name, by_protocol in report["runs"].items():
        assert set(by_protocol) == {"REST binary", "gRPC"}, name
        for runs in by_protocol.values():
            assert all(r["statuses"] == {"200": r["requests"]} for r in runs)
