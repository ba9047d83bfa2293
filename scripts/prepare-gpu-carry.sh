#!/usr/bin/env bash
# Make gpu-carry/ (git-ignored), what scripts/gpu-cyclegan.sh needs on a GPU machine that has
# no network: the compact horse2zebra photos and wheels of what its Python lacks (pydantic,
# for model.json), for Python 3.12 on x86-64. Prints the
# sizes, and fails when the working tree and gpu-carry/ together pass the 64 MiB carry limit.
#   PY=.venv/bin/python DATA=../shared/data/horse2zebra QUALITY=60 bash scripts/prepare-gpu-carry.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DATA=${DATA:-../shared/data/horse2zebra}
QUALITY=${QUALITY:-60}
LIMIT=$((64 * 1024 * 1024))

rm -rf gpu-carry
"$PY" -m training.compact_photos --data "$DATA" --holdout 66,134 --quality "$QUALITY" \
  --out gpu-carry/horse2zebra
# the versions this checkout is tested with
pins=$("$PY" -c 'import pydantic; print(f"pydantic=={pydantic.VERSION}")')
# shellcheck disable=SC2086
"$PY" -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp \
  --abi cp312 --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
  -d gpu-carry/wheels $pins

tree=$(git ls-files -z --cached --others --exclude-standard | du -cb --files0-from=- | tail -1 | cut -f1)
carry=$(du -sb gpu-carry | cut -f1)
total=$((tree + carry))
echo "working tree $((tree / 1024)) KiB + gpu-carry $((carry / 1024)) KiB" \
  "(photos $(du -sk gpu-carry/horse2zebra | cut -f1) KiB, wheels $(du -sk gpu-carry/wheels | cut -f1) KiB)" \
  "= $((total / 1024)) KiB of $((LIMIT / 1024)) KiB"
if [ "$total" -gt "$LIMIT" ]; then
  echo "too big to carry: lower QUALITY" >&2
  exit 1
fi
