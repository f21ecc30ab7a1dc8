#!/usr/bin/env bash
# A Docker engine for `make docker-test`, on Debian/Ubuntu: installs Debian's docker.io, debootstrap
# (docker/build_standin_base.sh) and docker-compose (Compose v1, used when the Docker CLI has no
# `compose` plugin) when missing, and starts dockerd in the background when no engine answers
# (its log: .docker-test/dockerd.log; its pid, to stop it: .docker-test/dockerd.pid).
# Exits 1 with the reason when no engine can be had: `.ci/run` then says so and skips docker-test.
set -euo pipefail
cd "$(dirname "$0")/.."
STATE_DIR=.docker-test

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "no Docker engine: docker-test needs root or sudo (debootstrap, dockerd)" >&2
        exit 1
    fi
    SUDO=(sudo)
fi

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then
    missing+=(docker-compose)
fi
if [ "${#missing[@]}" -gt 0 ]; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "no Docker engine: ${missing[*]} missing and apt-get is not available" >&2
        exit 1
    fi
    echo "Installing Debian packages for docker-test: ${missing[*]}"
    if ! { "${SUDO[@]}" apt-get update -qq \
        && "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null; }; then
        echo "no Docker engine: installing ${missing[*]} failed" >&2
        exit 1
    fi
fi

if docker info >/dev/null 2>&1; then
    exit 0
fi
mkdir -p "$STATE_DIR"
echo "Starting dockerd (log: $STATE_DIR/dockerd.log)"
"${SUDO[@]}" dockerd >"$STATE_DIR/dockerd.log" 2>&1 &
echo $! >"$STATE_DIR/dockerd.pid"
for _ in $(seq 60); do
    if docker info >/dev/null 2>&1; then
        exit 0
    fi
    if ! kill -0 "$(cat "$STATE_DIR/dockerd.pid")" 2>/dev/null; then
        break
    fi
    sleep 1
done
kill "$(cat "$STATE_DIR/dockerd.pid")" 2>/dev/null || true
rm -f "$STATE_DIR/dockerd.pid"
echo "no Docker engine: dockerd did not start; the end of $STATE_DIR/dockerd.log:" >&2
tail -15 "$STATE_DIR/dockerd.log" >&2
exit 1
