#!/usr/bin/env bash
# install-deps.sh - install the Debian 12 packages libcashews needs to build, test and bench.
# Idempotent: installs only what is missing, and does nothing (quickly) when all is there.
# Needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config   # toolchain
  ninja-build                        # the Makefile's generator: quiet, fast incremental builds
  libhiredis-dev libssl-dev          # redis:// and rediss:// backend
  libsqlite3-dev                     # disk:// backend
  zlib1g-dev libzstd-dev             # compression
  libxxhash-dev                      # xxh3/xxh64 digests (header-only use)
  redis-server redis-tools           # the real Redis the tests and the bench start
  openssl                            # TLS test certificates are made in C; the CLI helps debugging
  libmicrohttpd-dev                  # examples/http_server.c (http-example)
  curl prometheus                    # its test: the curl client, promtool check metrics
  wrk                                # bench W10: HTTP load against http-example
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: run as root to install: ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
# Debian starts a system redis-server on install; the tests start their own on free ports.
# prometheus (installed for promtool) likewise starts a server nobody here needs.
for service in redis-server prometheus; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$service" 2>/dev/null; then
    $sudo systemctl stop "$service" || true
  fi
done
