#!/usr/bin/env bash
# System packages the test suite drives for real (a browser, compose and Prometheus checkers).
# Installs only what is missing; needs root (CI and the dev machines run as root) or sudo.
set -euo pipefail

# command-on-PATH -> Debian package that provides it
declare -A wanted=(
  [chromium]=chromium
  [docker-compose]=docker-compose
  [promtool]=prometheus
  [prometheus]=prometheus
)

missing=()
for cmd in "${!wanted[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${wanted[$cmd]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
