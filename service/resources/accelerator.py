"""Whether ONNX Runtime could run on CUDA here, found without importing ONNX Runtime.

`workers=auto` (service/settings.py) needs the answer before any session exists, and
importing onnxruntime only to ask would tie the settings to the runtime.
"""

from __future__ import annotations

import ctypes
import importlib.util
from pathlib import Path

CUDA_PROVIDER_LIBRARY = "libonnxruntime_providers_cuda.so"


def cuda_driver_present() -> bool:
    """Whether the NVIDIA driver library exists; without it asking ORT for CUDA only adds noise."""
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True


def cuda_build_installed() -> bool:
    """Whether the installed ONNX Runtime ships its CUDA provider (onnxruntime-gpu does): the
    library `ort.get_available_providers()` reports CUDA for."""
    spec = importlib.util.find_spec("onnxruntime")
    if spec is None or spec.origin is None:
        return False
    return (Path(spec.origin).parent / "capi" / CUDA_PROVIDER_LIBRARY).is_file()


def tries_cuda(setting: str) -> bool:
    """Whether sessions will be asked to run on CUDA: demanded, or `auto` where it can load."""
    if setting == "auto":
        return cuda_build_installed() and cuda_driver_present()
    return setting == "cuda"
