#!/usr/bin/env bash
# Installs the Telegram Bot API emulator (npm telegram-test-api, pinned in tests/e2e/package-lock.json)
# for tests/e2e/test_telegram_e2e.py. Idempotent: does nothing when the locked version is installed.
set -euo pipefail
cd "$(dirname "$0")/../tests/e2e"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "node and npm are needed for the Telegram end-to-end test (apt-get install nodejs npm)" >&2
    exit 1
fi

wanted="$(node -p "require('./package-lock.json').packages['node_modules/telegram-test-api'].version")"
installed="$(node -p "try { require('./node_modules/telegram-test-api/package.json').version } catch (e) { '' }")"
# npm writes this file last; its absence means an interrupted install
if [ "$installed" = "$wanted" ] && [ -f node_modules/.package-lock.json ]; then
    echo "telegram-test-api $installed already installed"
    exit 0
fi

npm ci --no-audit --no-fund --loglevel=error
echo "telegram-test-api $(node -p "require('./node_modules/telegram-test-api/package.json').version") installed"
