"""The counts and durations a batcher keeps for the V2 statistics: runs, rows, each request's
queue wait and run, answers and failures."""

from __future__ import annotations

from service.engine.session_stats import SessionStats


def test_a_run_counts_once_and_for_each_request_in_it() -> None:
    stats = SessionStats()
    stats.ran(rows=5, run_s=0.002, waits=[0.001, 0.0005])  # two requests in one run
    stats.ran(rows=1, run_s=0.001, waits=[0.0])
    assert (stats.execution_count, stats.inference_count) == (2, 6)
    assert (stats.compute_infer.count, stats.compute_infer.ns) == (3, 5_000_000)
    assert (stats.queue.count, stats.queue.ns) == (3, 1_500_000)
    assert {rows: (d.count, d.ns) for rows, d in stats.by_batch_size.items()} == {
        5: (1, 2_000_000),
        1: (1, 1_000_000),
    }
    assert stats.last_inference_ms > 0


def test_answers_and_failures_are_apart() -> None:
    stats = SessionStats()
    stats.answered(True, 0.004)
    stats.answered(True, 0.002)
    stats.answered(False, 0.001)
    assert (stats.success.count, stats.success.ns) == (2, 6_000_000)
    assert (stats.fail.count, stats.fail.ns) == (1, 1_000_000)
