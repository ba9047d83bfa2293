"""`GET /v2/models/{name}/config`: a V2 model's configuration in Triton's JSON form, what
`tritonclient`'s `get_model_config` reads (Triton's model configuration, as its HTTP
endpoint answers it).

The tensors are those of the model's metadata, the batch axis left out of `dims` (Triton's
rule when `max_batch_size` > 0) and `-1` where an axis is dynamic; a per-row scalar (the
`[N]` label) is `dims: [1]` reshaped to `[]`, as `service.repository.triton_export` writes it.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from service.api.services import services
from service.api.v2.models import PLATFORM, Target, find, metadata
from service.api.v2.paths import Name, Version
from service.api.v2.schemas import (
    ConfigTensor,
    DynamicBatching,
    InstanceGroup,
    ModelConfig,
    TensorMetadata,
)
from service.settings import Settings

router = APIRouter(prefix="/v2", tags=["open inference protocol"])


def _tensor(t: TensorMetadata) -> ConfigTensor:
    dims, data_type = t.shape[1:], f"TYPE_{t.datatype}"
    if not dims:
        return ConfigTensor(name=t.name, data_type=data_type, dims=[1], reshape={"shape": []})
    return ConfigTensor(name=t.name, data_type=data_type, dims=dims)


def configuration(target: Target, settings: Settings) -> ModelConfig:
    meta = metadata(target)
    on_gpu = target.runner.provider == "CUDAExecutionProvider"
    return ModelConfig(
        name=target.name,
        platform=PLATFORM,
        backend="onnxruntime",
        version_policy={"specific": {"versions": meta.versions}},
        max_batch_size=settings.max_n,
        input=[_tensor(t) for t in meta.inputs],
        output=[_tensor(t) for t in meta.outputs],
        dynamic_batching=DynamicBatching(
            max_queue_delay_microseconds=round(settings.max_delay_ms * 1000)
        ),
        instance_group=[InstanceGroup(kind="KIND_GPU" if on_gpu else "KIND_CPU", count=1)],
    )


@router.get("/models/{name}/config", response_model=ModelConfig, response_model_exclude_none=True)
async def model_config(name: Name, request: Request) -> ModelConfig:
    """Max batch size, inputs and outputs with their data types and dims, dynamic batching."""
    svc = services(request)
    return configuration(find(svc.repository, name), svc.settings)


@router.get(
    "/models/{name}/versions/{version}/config",
    response_model=ModelConfig,
    response_model_exclude_none=True,
)
async def model_version_config(name: Name, version: Version, request: Request) -> ModelConfig:
    svc = services(request)
    return configuration(find(svc.repository, name, version), svc.settings)
