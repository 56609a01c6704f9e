#!/usr/bin/env bash
# The headless browser that tests/integration/test_report_html.py opens the HTML report in:
# Debian's chromium, driven by Playwright (the Python package, from the dev extra) with
# executable_path=/usr/bin/chromium. Never `playwright install`: it downloads a browser build.
# Idempotent and quiet: does nothing when chromium is already there.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium fonts-dejavu-core > /dev/null
