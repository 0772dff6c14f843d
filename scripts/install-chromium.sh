#!/usr/bin/env bash
# Installs headless Chromium for tests/e2e/test_staff_page.py (Debian packages).
# Idempotent: does nothing when /usr/bin/chromium is already there. Needs root.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    echo "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || echo unknown version)"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-chromium.sh needs root (apt-get); run it with sudo" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends chromium chromium-driver fonts-noto-cjk
/usr/bin/chromium --version
