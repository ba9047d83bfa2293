"""A served model: its manifest, its sessions, and the batcher paired with each.

The engine keeps a session (`Runner`) and a batcher apart; they meet here, where the
repository makes one batcher per loaded session.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from service.engine.batcher import Batcher
from service.engine.runtime import Runner
from service.manifest import Manifest
from service.repository.cost_cache import CostKey


class LoadError(Exception):
    """Why a model folder cannot serve; reported in /models and skipped."""


def first_line(exc: Exception) -> str:
    """An exception's message cut to one line for /models and the log."""
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__


@dataclass(eq=False)
class Model:
    name: str
    state: Literal["ready", "failed"]
    reason: str | None = None
    manifest: Manifest | None = None
    runners: dict[str, Runner] = field(default_factory=dict)  # role -> runner
    batchers: dict[str, Batcher] = field(default_factory=dict)  # role -> its batcher
    fingerprint: str = ""
    reload_error: str | None = None  # a broken successor that was refused
    # Roles whose largest photo is not timed yet: their estimate is a small photo's, scaled
    # (service/repository/max_side_probe.py times it in the background).
    unmeasured: dict[str, CostKey] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    @property
    def kind(self) -> str | None:
        return self.manifest.kind if self.manifest else None

    @property
    def provider(self) -> str | None:
        providers = {r.provider for r in self.runners.values()}
        return providers.pop() if len(providers) == 1 else None

    def session_keys(self) -> list[str]:
        return [session_key(self.name, role, self.manifest) for role in self._roles()]

    def _roles(self) -> tuple[str, ...]:
        return self.manifest.roles() if self.manifest else ("generator",)

    def describe(self) -> dict[str, Any]:
        m = self.manifest
        return {
            "name": self.name,
            "state": self.state,
            "reason": self.reason,
            "reload_error": self.reload_error,
            "kind": m.kind if m else None,
            "version": m.version if m else None,
            "description": m.description if m else None,
            "untrained": m.untrained if m else None,
            "provider": self.provider,
            "image": m.image.model_dump() if m else None,
            "latent": m.latent.model_dump() if m and m.latent else None,
            "classes": m.classes if m else None,
            "domains": m.domains if m else None,
            "scale": m.scale if m else None,
            "stylegan": m.stylegan.model_dump() if m and m.stylegan else None,
            "directions": list(m.roles()) if m and m.kind == "translation" else None,
            "sessions": {role: r.describe() for role, r in self.runners.items()},
            "manifest": m.model_dump(mode="json") if m else None,
        }


def session_key(name: str, role: str, manifest: Manifest | None) -> str:
    """The name of one session in metrics and logs: `name`, or `name:role` for a model of
    several sessions (a translation's directions, a StyleGAN's mapping and synthesis)."""
    return f"{name}:{role}" if manifest and manifest.kind in ("translation", "stylegan") else name
