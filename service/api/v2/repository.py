"""`POST /v2/repository/index`: the model repository extension's index, what
`tritonclient`'s `get_model_repository_index` reads. Every V2 model (a generator, each
direction of a translation model) with its state, and why a failed one does not serve.

Loading and unloading one model are not served: `POST /admin/reload` rescans the folder.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request

from service.api.services import services
from service.api.v2.models import v2_name, v2_roles
from service.api.v2.schemas import RepositoryIndexEntry, RepositoryIndexRequest
from service.repository.model import Model
from service.repository.repository import Repository

router = APIRouter(prefix="/v2", tags=["open inference protocol"])


def _entries(model: Model) -> list[RepositoryIndexEntry]:
    manifest = model.manifest
    version = manifest.version if manifest else None
    state = "READY" if model.ready else "UNAVAILABLE"
    return [
        RepositoryIndexEntry(
            name=v2_name(model, role), version=version, state=state, reason=model.reason or ""
        )
        for role in v2_roles(model)
    ]


def index(repository: Repository, ready: bool = False) -> list[RepositoryIndexEntry]:
    """Every model found and each translation direction (`ready`: only those that serve);
    gRPC's RepositoryIndex answers the same."""
    entries = [e for m in repository.models.values() for e in _entries(m)]
    return [e for e in entries if e.state == "READY"] if ready else entries


@router.post("/repository/index", response_model=list[RepositoryIndexEntry])
async def repository_index(
    request: Request, body: Annotated[RepositoryIndexRequest | None, Body()] = None
) -> list[RepositoryIndexEntry]:
    """Every model found and each translation direction, READY or UNAVAILABLE (with the
    reason); `{"ready": true}`: only those that serve."""
    return index(services(request).repository, body is not None and body.ready)
