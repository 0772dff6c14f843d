#!/usr/bin/env bash
# Everything the end-to-end tests need beyond requirements-dev.txt, installed idempotently:
# the Telegram Bot API emulator (npm), headless Chromium and PostgreSQL (Debian packages).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bash "$here/install-telegram-test-api.sh"
bash "$here/install-chromium.sh"
bash "$here/install-postgresql.sh"
