"""What every import is asked for, whatever the source: the folder to write, the domain
names (translators), the sample photos per role, the export checks, and the command for the
record."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch


@dataclass
class Job:
    out: Path
    domains: tuple[str, str] | None  # translation only
    command: str
    photos: dict[str, torch.Tensor] = field(default_factory=dict)  # role -> [N, 3, H, W]
    tolerance: float = 1e-4  # largest |onnxruntime - torch| (checkpoints)
    opset: int = 17

    def photos_for(self, roles: list[str]) -> dict[str, torch.Tensor]:
        return {role: self.photos[role] for role in roles if role in self.photos}
