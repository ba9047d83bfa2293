#!/usr/bin/env bash
# Checks the GPU image (built with --build-arg CUDA_LIBS=1) on a machine without a GPU: ONNX
# Runtime lists CUDAExecutionProvider, the loader finds everything its CUDA provider library
# and the pip-installed NVIDIA libraries link against (all but libcuda.so.1, which the NVIDIA
# container toolkit brings from the host driver), and each NVIDIA library loads by its bare
# name (so through ld.so.conf.d, not LD_LIBRARY_PATH); then the image serves its models with
# GANSERVE_PROVIDER=auto on the CPU provider, as it must where there is no driver. It does not
# run CUDA. No network: the container talks to itself on 127.0.0.1. Exit 1 on a miss.
#   bash scripts/check-gpu-image.sh [IMAGE]   (default ganserve:gpu)
set -euo pipefail
IMAGE=${1:-ganserve:gpu}
docker image ls "$IMAGE" --format 'image {{.Repository}}:{{.Tag}} {{.Size}}'
docker run --rm -i --network none --entrypoint python "$IMAGE" - <<'PY'
import ctypes
import pathlib
import re
import subprocess
import sys

import onnxruntime

site = pathlib.Path(onnxruntime.__file__).parent.parent
provider = site / "onnxruntime/capi/libonnxruntime_providers_cuda.so"
providers = onnxruntime.get_available_providers()
print("onnxruntime", onnxruntime.__version__, "providers", providers)
nvidia = sorted(p for p in (site / "nvidia").rglob("lib*.so*") if p.is_file())
driver_only = {"libcuda.so.1"}  # from the host driver, injected by the NVIDIA toolkit
failures, needs_driver = [], []
if not provider.is_file():
    failures.append(f"{provider.name} missing")
if not nvidia:
    failures.append("no pip-installed NVIDIA libraries (a CUDA_LIBS=0 image?)")
if "CUDAExecutionProvider" not in providers:
    failures.append("CUDAExecutionProvider missing")
libs = [provider, *nvidia] if provider.is_file() else nvidia
for lib in libs:
    ldd = subprocess.run(["ldd", str(lib)], capture_output=True, text=True).stdout
    missing = set(re.findall(r"^\s*(\S+) => not found", ldd, re.M))
    if missing - driver_only:
        failures.append(f"{lib.name}: not found {sorted(missing - driver_only)}")
    if missing & driver_only:
        needs_driver.append(lib.name)
print(f"ldd: {len(libs)} libraries, unresolved only libcuda.so.1 in: {needs_driver}")
loadable = [lib for lib in nvidia if lib.name not in needs_driver]
for lib in loadable:
    try:
        ctypes.CDLL(lib.name)  # bare name: found through the loader path or not at all
    except OSError as error:
        failures.append(f"ctypes.CDLL({lib.name}): {error}")
print(f"ctypes.CDLL by bare name: {len(loadable)} NVIDIA libraries tried")
print("FAIL\n  " + "\n  ".join(failures) if failures else "libraries OK (none of it ran CUDA)")
sys.exit(1 if failures else 0)
PY
echo "serving with GANSERVE_PROVIDER=auto (no driver here):"
docker run --rm -i --network none -e GANSERVE_PROVIDER=auto -e GANSERVE_HOST=127.0.0.1 \
  --entrypoint sh "$IMAGE" -c 'python -m service 2>/dev/null & exec python -' <<'PY'
import json
import sys
import time
import urllib.request

base = "http://127.0.0.1:8000"
start = time.monotonic()
while time.monotonic() - start < 180:
    try:
        urllib.request.urlopen(base + "/readyz", timeout=5)
        break
    except OSError:
        time.sleep(1)
else:
    sys.exit("FAIL: /readyz not 200 within 180 s")
models = json.load(urllib.request.urlopen(base + "/models", timeout=5))["models"]
providers = {m["name"]: m["provider"] for m in models}
print(f"/readyz 200 after {time.monotonic() - start:.1f} s; providers {providers}")
sys.exit(0 if set(providers.values()) == {"CPUExecutionProvider"} else "FAIL: expected CPU")
PY
