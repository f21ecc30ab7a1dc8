#!/usr/bin/env bash
# The browser test (tests/airflow/test_ui_connection_form.py) drives Debian's headless Chromium.
# Installs chromium and chromium-driver when they are missing and we are root; otherwise says how.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "Installing Debian's chromium and chromium-driver for the browser test..."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
    exit 0
fi
echo "chromium and chromedriver are missing: run 'sudo apt-get install chromium chromium-driver'." >&2
exit 1
