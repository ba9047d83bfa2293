"""`GET /v2/models/stats` and `GET /v2/models/{name}/stats`: Triton's statistics extension,
what `tritonclient`'s `get_inference_statistics` reads, from the counts and durations each
session's batcher keeps (`service.engine.session_stats`).

Per worker process (the one that answers), since the session was loaded. `success` and
`fail` count requests end to end, `queue` each request's wait for its run, `compute_infer`
each request's run (a batch's run counts once for each request in it), `batch_stats` the runs
by rows. Input and output conversion are not timed apart from the request: `compute_input`,
`compute_output` are 0, and so are the cache's counts (there is no response cache).
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from service.api.services import services
from service.api.v2.models import Target, find, ready_targets
from service.api.v2.paths import Name, Version
from service.api.v2.schemas import (
    BatchStatistics,
    InferStatistics,
    ModelStatistics,
    StatDuration,
    Statistics,
)
from service.engine.session_stats import Duration

router = APIRouter(prefix="/v2", tags=["open inference protocol"])
NONE = StatDuration(count=0, ns=0)


def _duration(d: Duration) -> StatDuration:
    return StatDuration(count=d.count, ns=d.ns)


def model_statistics(target: Target) -> ModelStatistics:
    stats = target.batcher.stats
    return ModelStatistics(
        name=target.name,
        version=target.manifest.version,
        last_inference=stats.last_inference_ms,
        inference_count=stats.inference_count,
        execution_count=stats.execution_count,
        inference_stats=InferStatistics(
            success=_duration(stats.success),
            fail=_duration(stats.fail),
            queue=_duration(stats.queue),
            compute_input=NONE,
            compute_infer=_duration(stats.compute_infer),
            compute_output=NONE,
            cache_hit=NONE,
            cache_miss=NONE,
        ),
        batch_stats=[
            BatchStatistics(
                batch_size=rows,
                compute_input=NONE,
                compute_infer=_duration(runs),
                compute_output=NONE,
            )
            for rows, runs in sorted(stats.by_batch_size.items())
        ],
    )


@router.get("/models/stats", response_model=Statistics)
async def all_statistics(request: Request) -> Statistics:
    """Every ready V2 model's counts and durations (this worker's)."""
    targets = ready_targets(services(request).repository)
    return Statistics(model_stats=[model_statistics(t) for t in targets])


@router.get("/models/{name}/stats", response_model=Statistics)
async def statistics(name: Name, request: Request) -> Statistics:
    """Requests answered and failed, queue and run time, runs by batch size."""
    return Statistics(model_stats=[model_statistics(find(services(request).repository, name))])


@router.get("/models/{name}/versions/{version}/stats", response_model=Statistics)
async def version_statistics(name: Name, version: Version, request: Request) -> Statistics:
    target = find(services(request).repository, name, version)
    return Statistics(model_stats=[model_statistics(target)])
