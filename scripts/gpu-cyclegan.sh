#!/usr/bin/env bash
# The prepared GPU run (docs/training.md, "The prepared GPU run"): trains the 256 px horse2zebra CycleGAN recipe
# (training/configs/cyclegan-horse2zebra-gpu.json) for a fixed wall-clock budget, exports it
# (ONNX Runtime parity check included), evaluates it on the validation photos with
# judges/horse2zebra, and leaves OUT/model/, OUT/metrics.jsonl and OUT/run.log. Needs
# gpu-carry/ from scripts/prepare-gpu-carry.sh; pip is not needed (the wheels are unpacked
# onto PYTHONPATH). A second call on the same machine resumes the run in runs/.
#   OUT=/tmp/out SECONDS_TOTAL=540 bash scripts/gpu-cyclegan.sh [--set key=value ...]
set -euo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?set OUT to the folder that comes back}"
PY=${PY:-python3}
CARRY=${CARRY:-gpu-carry}
SECONDS_TOTAL=${SECONDS_TOTAL:-540}
mkdir -p "$OUT"
if [ -d "$CARRY/wheels" ]; then
  "$PY" scripts/unpack_wheels.py "$CARRY/wheels" "$CARRY/site" | tee "$OUT/run.log"
  export PYTHONPATH="$PWD:$PWD/$CARRY/site${PYTHONPATH:+:$PYTHONPATH}"
fi
{
  date -u
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  "$PY" -m training.budget_run --config training/configs/cyclegan-horse2zebra-gpu.json \
    --data "$CARRY/horse2zebra" --judge judges/horse2zebra --seconds "$SECONDS_TOTAL" \
    --out "$OUT" "$@"
} 2>&1 | tee -a "$OUT/run.log"
