#!/usr/bin/env bash
# Debian packages that the Celery end-to-end test and the compose checks need on a fresh machine:
#   redis-server    tests/airflow/test_celery_e2e.py starts its own one on a free 127.0.0.1 port
#                   (the system service is never used, and not started on machines without systemd);
#   docker-compose  tests/test_docker_files.py validates the compose files offline with
#                   `docker-compose config` (Compose v1; no engine and no image registry needed).
# Installs only what is missing; runs apt-get through sudo when not root.
set -euo pipefail

PACKAGES=(redis-server docker-compose)
COMMANDS=(redis-server docker-compose)

missing=()
for i in "${!PACKAGES[@]}"; do
    command -v "${COMMANDS[$i]}" >/dev/null 2>&1 || missing+=("${PACKAGES[$i]}")
done
if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: install ${missing[*]} (Debian/Ubuntu packages; apt-get is not available here)" >&2
    exit 1
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    SUDO=(sudo)
fi
echo "Installing Debian packages: ${missing[*]}"
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
