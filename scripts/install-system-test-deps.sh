#!/usr/bin/env bash
# System packages the test suite drives for real (a browser, a Docker engine, compose,
# Prometheus, mmdebstrap for the Debian-built stand-ins of Docker Hub images). Installs only
# what is missing; needs root (CI and the dev machines run as root) or sudo. On CI (CI=true),
# also starts a Docker engine when none answers.
set -euo pipefail

# command-on-PATH -> Debian package that provides it
declare -A wanted=(
  [chromium]=chromium
  [docker-compose]=docker-compose
  [dockerd]=docker.io
  [mmdebstrap]=mmdebstrap
  [promtool]=prometheus
  [prometheus]=prometheus
)

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

missing=()
for cmd in "${!wanted[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${wanted[$cmd]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The engine keeps off the machine's network: no default bridge, no iptables or NAT rules.
# Test containers use the host network (on 127.0.0.1) or a network their test creates.
if [ "${CI:-}" = true ] && ! docker info >/dev/null 2>&1; then
  $sudo sh -c 'nohup dockerd --bridge=none --iptables=false --ip-masq=false \
    >/var/log/ganserve-dockerd.log 2>&1 &'
  for _ in $(seq 60); do
    docker info >/dev/null 2>&1 && exit 0
    sleep 1
  done
  echo "dockerd did not answer within 60 s; see /var/log/ganserve-dockerd.log" >&2
  exit 1
fi
