"""Fixtures for the Telegram end-to-end test: the Bot API emulator on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import missing
from tests.e2e.harness import Emulator, ensure_emulator_installed, node_missing


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    reason = node_missing()
    if reason:
        missing(reason)
    ensure_emulator_installed()  # normally done by scripts/install-e2e-deps.sh (make test)
    emu = Emulator()
    emu.start()
    try:
        yield emu
    finally:
        emu.stop()
