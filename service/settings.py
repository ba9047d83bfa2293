"""Service settings: environment variables with the prefix `GANSERVE_` (pydantic-settings).

Every field is listed with its default in docs/architecture.md (Settings).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from service import imaging
from service.resources import accelerator, capacity


def auto_workers(provider: str, memory_budget_mb: int) -> int:
    """`workers=auto`: one process per usable core, each within its memory budget; one on
    CUDA, where every worker would hold its own copy of the models and its own GPU arena
    and the GPU, not the event loop, is what the requests wait for."""
    if accelerator.tries_cuda(provider):
        return 1
    fits = capacity.memory() // (memory_budget_mb * 1024 * 1024)
    return max(1, min(capacity.cores(), fits))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GANSERVE_", extra="ignore")

    host: str = "0.0.0.0"
    port: int = Field(default=8000, ge=0, le=65535)
    grpc_port: int = Field(
        default=8001, ge=0, le=65535, description="the Open Inference Protocol over gRPC; 0: off"
    )
    workers: Annotated[int, Field(ge=1)] | Literal["auto"] = Field(
        default="auto", description="processes serving the port; auto: see auto_workers"
    )
    models_dir: Path = Path("models")
    cache_dir: Path | None = Field(
        default=None,
        description="measured photo costs kept between starts; None: the user's cache folder",
    )
    max_side_probe: bool = Field(
        default=True,
        description="time each translation session on a max_side photo once ready, and keep it",
    )
    provider: Literal["auto", "cuda", "cpu"] = "auto"
    intra_op_threads: int = Field(default_factory=capacity.cores, ge=1)
    inter_op_threads: int = Field(default=1, ge=1)
    max_batch: int = Field(default=64, ge=1, description="rows per session.run")
    max_delay_ms: float = Field(
        default=0.0, ge=0, description="wait this long for company; 0: run when the session is free"
    )
    inline_run_ms: float = Field(
        default=3.0, ge=0, description="idle session: run on the event loop when this cheap"
    )
    queue_size: int = Field(default=1024, ge=1, description="rows waiting per session")
    max_n: int = Field(default=64, ge=1, description="images per /generate or /interpolate")
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    max_pixels: int = Field(
        default=imaging.MAX_PIXELS, ge=1, description="decoded pixels per upload"
    )
    max_side: int = Field(
        default=imaging.MAX_SIDE, ge=1, description="/translate scales larger uploads down"
    )
    default_unconditional: str | None = None
    default_conditional: str | None = None
    default_translation: str | None = None
    default_super_resolution: str | None = None
    default_stylegan: str | None = None
    api_key: str | None = Field(default=None, description="bearer token; None = open")
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    log_level: str = "info"
    access_log: bool = Field(
        default=False, description="uvicorn's line per request; the metrics count requests"
    )
    otel: bool = Field(default=False, description="FastAPI's OpenTelemetry spans, metrics and logs")
    request_timeout_s: float = Field(default=30.0, gt=0)
    max_batch_pixels: int = Field(
        default=1024 * 1024, ge=1, description="photo pixels per translation session.run"
    )
    max_output_pixels: int = Field(
        default=4096 * 4096, ge=1, description="super-resolution: most pixels of an answer"
    )
    tile_side: int = Field(
        default=256, ge=16, description="super-resolution: photo pixels a window answers for"
    )
    tile_overlap: int = Field(
        default=16, ge=0, description="super-resolution: context around each window's core"
    )
    memory_budget_mb: int = Field(
        default=2048, ge=1, description="resident memory the process plans its runs within"
    )
    reuse_freed_memory: bool = Field(
        default=False,
        description="glibc keeps even the largest freed buffers for the next run until a "
        "burst ends: StyleGAN synthesis 1.5x faster, but photos of mixed sizes grow the heap",
    )
    body_timeout_s: float = Field(
        default=10.0, gt=0, description="a request body stalled this long is dropped (408)"
    )
    header_timeout_s: float = Field(
        default=10.0, gt=0, description="a connection whose request headers stall is closed"
    )
    keep_alive_s: int = Field(default=5, ge=1, description="idle keep-alive connections close")
    max_connections: int = Field(
        default=1000, ge=1, description="open connections (and requests) per process; then 503"
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        """`GANSERVE_CORS_ORIGINS=https://a.example,https://b.example` (or a JSON list)."""
        if isinstance(value, str):
            value = value.strip()
            if value.startswith("["):
                return json.loads(value)
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @model_validator(mode="after")
    def _cores_shared_by_workers(self) -> Settings:
        """`auto` made a count; unless set, each worker's sessions get an equal share of the
        cores, so that workers x threads do not outnumber them."""
        if self.workers == "auto":
            self.workers = auto_workers(self.provider, self.memory_budget_mb)
        if "intra_op_threads" not in self.model_fields_set:
            self.intra_op_threads = max(1, capacity.cores() // self.workers)
        return self

    @model_validator(mode="after")
    def _ports_differ(self) -> Settings:
        if self.grpc_port and self.grpc_port == self.port:
            raise ValueError("grpc_port must differ from port (or be 0: no gRPC)")
        return self

    @model_validator(mode="after")
    def _queue_holds_a_request(self) -> Settings:
        if self.queue_size < self.max_n:
            raise ValueError("queue_size must be at least max_n, or big requests never fit")
        if self.tile_overlap * 4 > self.tile_side:
            raise ValueError("tile_overlap must be at most a quarter of tile_side")
        if self.max_batch_pixels < self.max_side**2:
            raise ValueError("max_batch_pixels must be at least max_side squared (one photo)")
        return self
