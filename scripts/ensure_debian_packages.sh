#!/usr/bin/env bash
# Debian packages that tests drive as real programs, installed when missing (`make test` runs this,
# so a fresh machine needs nothing else):
#   chromium, chromium-driver  tests/airflow/test_ui_connection_form.py (the connection form in a browser)
#   redis-server               tests/airflow/test_celery_e2e.py starts its own one on a free 127.0.0.1 port
#                              (the system service is never used)
#   docker-compose             tests/test_docker_files.py validates the compose files offline
#                              (`docker-compose config`: no engine, no image registry)
# Uses apt-get directly as root, through sudo otherwise; runs `apt-get update` only when needed.
set -euo pipefail

PACKAGES=(chromium chromium-driver redis-server docker-compose)
COMMANDS=(chromium chromedriver redis-server docker-compose)

missing=()
for i in "${!PACKAGES[@]}"; do
    command -v "${COMMANDS[$i]}" >/dev/null 2>&1 || missing+=("${PACKAGES[$i]}")
done
if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: the tests need the Debian/Ubuntu packages ${missing[*]}, and apt-get is not available here" >&2
    exit 1
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    SUDO=(sudo)
fi
echo "Installing Debian packages for the tests: ${missing[*]}"
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
