"""The serving benchmark's report: its targets checked (PASS or MISS) and serve.md."""

from __future__ import annotations

from benchmarks.serve_models import SIDE, WORKLOADS, Workload


def ratio(a: float, b: float) -> float:
    return a / b if b else float("inf")


def against_raw(
    raw: dict, n16: float, p50_one: float, translate: float, who: str = ""
) -> list[dict]:
    """The targets that hold a server to raw ONNX Runtime (`raw`: a report's "raw_ort") in one
    run: n=16 at 32 clients (images/s), one client at n=1 (p50 ms), /translate at 8 clients."""
    limit = raw["generator"][64]["images_per_s"]
    run_ms = raw["generator"][1]["run_ms"]
    tr_limit = max(r["images_per_s"] for r in raw["translator"].values())
    return [
        {
            "target": f"{who}/generate n=16, 32 clients >= 0.9x raw ORT at batch 64",
            "measured": f"{n16:.0f} vs {limit:.0f} img/s = {ratio(n16, limit):.2f}x",
            "pass": n16 >= 0.9 * limit,
        },
        {
            "target": f"{who}/generate n=1, one client: p50 <= raw ORT batch 1 + 0.5 ms",
            "measured": f"p50 {p50_one:.2f} vs {run_ms:.2f} + 0.5 ms",
            "pass": p50_one <= run_ms + 0.5,
        },
        {
            "target": f"{who}/translate {SIDE}x{SIDE}, 8 clients >= 0.9x raw ORT",
            "measured": f"{translate:.2f} vs {tr_limit:.2f} img/s = "
            f"{ratio(translate, tr_limit):.2f}x",
            "pass": translate >= 0.9 * tr_limit,
        },
    ]


def targets(report: dict) -> list[dict]:
    """The standing targets this run can check. Not here: n=1 at 64 clients against the best
    peer and against the old revision (benchmarks/peers/bench.py measures both)."""
    raw_gen = report["raw_ort"]["generator"]
    service = report["servers"]["service"]
    n1 = Workload("/generate", 1, 64).name
    fast = service[n1]["images_per_s"]
    naive = report["servers"]["naive"][n1]["images_per_s"]
    idle = report["idle"]["p50_ms"]
    idle_limit = raw_gen[16]["run_ms"] + 3.0
    soaked = report["soak"]
    return [
        *against_raw(
            report["raw_ort"],
            n16=service[Workload("/generate", 16, 32).name]["images_per_s"],
            p50_one=service[Workload("/generate", 1, 1).name]["p50_ms"],
            translate=service[Workload("/translate", 1, 8).name]["images_per_s"],
        ),
        {
            "target": "/generate n=1, 64 clients >= 5x the naive server (PyTorch per request)",
            "measured": f"{fast:.0f} vs {naive:.0f} img/s = {ratio(fast, naive):.2f}x",
            "pass": fast >= 5 * naive,
        },
        {
            "target": "idle /generate n=16 within raw ORT batch-16 time + 3 ms (p50)",
            "measured": f"p50 {idle:.2f} ms vs {idle_limit:.2f} ms",
            "pass": idle <= idle_limit,
        },
        {
            "target": "server RSS flat over the soak, each worker (end within 5% of start)",
            "measured": (
                f"{soaked['rss_start_mib']:.1f} -> {soaked['rss_end_mib']:.1f} MiB "
                f"({soaked['growth'] * 100:+.1f}%, max {soaked['rss_max_mib']:.1f}) "
                f"over {soaked['seconds']:.0f} s, the most grown of {soaked['workers']} "
                "worker(s)"
            ),
            "pass": soaked["growth"] <= 0.05,
        },
    ]


def targets_table(checked: list[dict]) -> list[str]:
    """Markdown rows: each target, what was measured, PASS or MISS."""
    rows = [
        f"| {t['target']} | {t['measured']} | {'PASS' if t['pass'] else 'MISS'} |" for t in checked
    ]
    return ["| target | measured | result |", "| --- | --- | --- |", *rows]


def markdown(report: dict) -> str:
    m = report["machine"]
    raw_gen, raw_tr = report["raw_ort"]["generator"], report["raw_ort"]["translator"]
    limit_gen = raw_gen[64]["images_per_s"]
    limit_tr = max(r["images_per_s"] for r in raw_tr.values())
    servers = report["servers"]
    lines = [
        "# Serving benchmark",
        "",
        f"Command: `{report['command']}` at git {report['git']}, {report['date']}, "
        f"{report['wall_s']:.0f} s.",
        f"Machine: {m['cpu']}, {m['cores']} cores ({m['arch']}), Python {m['python']}, "
        f"ONNX Runtime {m['onnxruntime']}, provider `{report['provider']}`; load average at "
        f"start {', '.join(f'{x:.2f}' for x in m['load_average_at_start'])}. Server, load "
        "generator and raw ORT share these cores.",
        f"Models: generator `{report['models']['generator']}`, translator "
        f"`{report['models']['translator']}`. Naive server weights: "
        f"{report['models']['naive_weights']}.",
        "",
        "## Targets",
        "",
        *targets_table(report["targets"]),
        "",
        "## Summary",
        "",
        f"Images/s, in brackets over raw ONNX Runtime's best (generator at batch 64: "
        f"{limit_gen:.0f}/s; translator: {limit_tr:.2f}/s).",
        "",
        "| workload | service | no batching | naive | service p50 / p99 ms | service mean batch |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for w in WORKLOADS:
        limit = limit_gen if w.route == "/generate" else limit_tr
        cells = [
            f"{servers[name][w.name]['images_per_s']:.1f} "
            f"({servers[name][w.name]['images_per_s'] / limit:.2f}x)"
            for name in ("service", "no batching", "naive")
        ]
        r = servers["service"][w.name]
        lines.append(
            f"| {w.name} | {' | '.join(cells)} | {r['p50_ms']:.1f} / {r['p99_ms']:.1f} | "
            f"{r['mean_batch'] or 0:.1f} |"
        )
    lines += [
        "",
        "## Raw ONNX Runtime (in-process `session.run`, the service's session settings)",
        "",
        "| model | batch | ms per run | images/s | intra-op threads (the faster) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for label, table in (("generator", raw_gen), (f"translator {SIDE}x{SIDE}", raw_tr)):
        for batch, r in table.items():
            lines.append(
                f"| {label} | {batch} | {r['run_ms']:.2f} | {r['images_per_s']:.1f} | "
                f"{r['threads']} |"
            )
    lines += [
        "",
        "## Every figure",
        "",
        "x raw: images/s over raw ORT's best. p50/raw: median latency over raw ORT's time for "
        "one request's rows. CPU in cores (2 = both cores busy), measured over the window.",
        "",
        "| workload | server | images/s | x raw | requests/s | p50 ms | p95 ms | p99 ms | "
        "p50/raw | mean batch | server CPU | client CPU |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for w in WORKLOADS:
        raw = raw_gen if w.route == "/generate" else raw_tr
        limit = limit_gen if w.route == "/generate" else limit_tr
        own = raw[w.n if w.route == "/generate" else 1]["run_ms"]
        for name, results in servers.items():
            r = results[w.name]
            batch = f"{r['mean_batch']:.1f}" if r.get("mean_batch") else "—"
            bad = {k: v for k, v in r["statuses"].items() if k != "200"}
            note = f" (non-200: {bad})" if bad else ""
            lines.append(
                f"| {w.name} | {name}{note} | {r['images_per_s']:.1f} | "
                f"{r['images_per_s'] / limit:.3f} | {r['requests_per_s']:.1f} | "
                f"{r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['p99_ms']:.1f} | "
                f"{r['p50_ms'] / own:.1f} | {batch} | {r['server_cpu_cores']:.2f} | "
                f"{r['client_cpu_cores']:.2f} |"
            )
    idle = report["idle"]
    soaked = report["soak"]
    lines += [
        "",
        f"Idle /generate n=16 (one client, 50 ms pauses, {idle['requests']} requests): p50 "
        f"{idle['p50_ms']:.2f} ms, p99 {idle['p99_ms']:.2f} ms; raw ORT batch 16: "
        f"{raw_gen[16]['run_ms']:.2f} ms. GET /healthz with the same pauses (waking an idle "
        f"server and client, no model): p50 {idle['floor']['p50_ms']:.2f} ms.",
        "",
        f"Soak ({soaked['seconds']:.0f} s of /generate n=1 at 32 clients and /translate at 2, "
        f"after the workloads above and {soaked['warmup_s']:.0f} s of the same load): the "
        f"RSS of the worker that grew most of {soaked['workers']}, "
        f"{soaked['rss_start_mib']:.1f} MiB at the start, {soaked['rss_end_mib']:.1f} MiB "
        "at the end, at most "
        f"{soaked['rss_max_mib']:.1f} MiB.",
    ]
    return "\n".join(lines) + "\n"


# --- main ----------------------------------------------------------------------------------
