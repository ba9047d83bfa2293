"""The protocol's JSON objects (they are also the OpenAPI documentation of the /v2 routes)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

# Tensor names are echoed in errors and responses: short.
TensorName = Annotated[str, Field(min_length=1, max_length=64)]
Parameters = dict[str, Any]


class _Request(BaseModel):
    # Strict: `"shape": ["3"]` is an error, not [3]; an unknown field is a typo, not ignored.
    model_config = ConfigDict(extra="forbid", strict=True)


class RequestInput(_Request):
    name: TensorName
    shape: list[Annotated[int, Field(ge=0)]] = Field(max_length=8)
    datatype: str = Field(max_length=16, description="FP32, INT64, UINT64 or UINT8")
    parameters: Parameters | None = Field(
        default=None, description="`binary_data_size`: the tensor is that many raw bytes"
    )
    data: list[Any] | None = Field(
        default=None, description="row-major values, flat or nested; absent for binary data"
    )


class RequestOutput(_Request):
    name: TensorName
    parameters: Parameters | None = Field(
        default=None, description="`binary_data`: this output as raw bytes after the JSON"
    )


class InferRequest(_Request):
    id: str | None = Field(default=None, max_length=256)
    parameters: Parameters | None = Field(
        default=None, description="`binary_data_output`: every output as raw bytes"
    )
    inputs: list[RequestInput] = Field(min_length=1, max_length=8)
    outputs: list[RequestOutput] | None = Field(
        default=None, max_length=8, description="omitted: every output"
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"inputs": [{"name": "seed", "shape": [2], "datatype": "INT64", "data": [1, 2]}]}
            ]
        }
    )


class ResponseOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: Parameters | None = None
    data: list[Any] | None = None


class InferResponse(BaseModel):
    model_name: str
    model_version: str | None = None
    id: str
    parameters: Parameters | None = None
    outputs: list[ResponseOutput]


class TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int] = Field(description="-1 for a dynamic axis")


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class Live(BaseModel):
    live: bool


class Ready(BaseModel):
    ready: bool


class ModelReady(BaseModel):
    name: str
    ready: bool


class V2Error(BaseModel):
    """Every error under /v2, whatever its status."""

    error: str


# -- the model repository, configuration and statistics extensions (Triton's shapes) -------


class RepositoryIndexRequest(_Request):
    ready: bool = Field(default=False, description="true: only the models ready to serve")


class RepositoryIndexEntry(BaseModel):
    name: str = Field(description="a V2 model name: a generator, or `<model>.a2b` / `.b2a`")
    version: str | None = None
    state: str = Field(description="READY or UNAVAILABLE")
    reason: str = Field(default="", description="why it is unavailable")


class ConfigTensor(BaseModel):
    name: str
    data_type: str = Field(description="TYPE_FP32, TYPE_INT64, TYPE_UINT8")
    dims: list[int] = Field(description="without the batch axis; -1 for a dynamic axis")
    reshape: dict[str, list[int]] | None = Field(
        default=None, description="a per-row scalar: [1] on the wire, [] for the model"
    )


class DynamicBatching(BaseModel):
    max_queue_delay_microseconds: int


class InstanceGroup(BaseModel):
    kind: str = Field(description="KIND_CPU or KIND_GPU")
    count: int


class ModelConfig(BaseModel):
    name: str
    platform: str
    backend: str
    version_policy: dict[str, Any]
    max_batch_size: int = Field(description="rows one request may hold (max_n)")
    input: list[ConfigTensor]
    output: list[ConfigTensor]
    dynamic_batching: DynamicBatching
    instance_group: list[InstanceGroup]


class StatDuration(BaseModel):
    count: int
    ns: int


class InferStatistics(BaseModel):
    success: StatDuration
    fail: StatDuration
    queue: StatDuration
    compute_input: StatDuration
    compute_infer: StatDuration
    compute_output: StatDuration
    cache_hit: StatDuration
    cache_miss: StatDuration


class BatchStatistics(BaseModel):
    batch_size: int
    compute_input: StatDuration
    compute_infer: StatDuration
    compute_output: StatDuration


class ModelStatistics(BaseModel):
    name: str
    version: str
    last_inference: int = Field(description="milliseconds since the epoch; 0: none yet")
    inference_count: int = Field(description="rows run")
    execution_count: int = Field(description="session runs (batches)")
    inference_stats: InferStatistics
    batch_stats: list[BatchStatistics]


class Statistics(BaseModel):
    model_stats: list[ModelStatistics]
