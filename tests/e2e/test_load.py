"""A reduced load over the real HTTP path (the full size: `python -m tests.e2e.load`, see
docs/reliability.md): every question one reply and one log row, and a crisis answered at once
while residents' questions and a group's /ask are queued."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REAL_KNOWLEDGE
from tests.e2e.harness import Emulator
from tests.e2e.load import run_load

pytestmark = pytest.mark.e2e


async def test_reduced_load_every_question_one_reply_one_row(emulator: Emulator, tmp_path: Path) -> None:
    result = await run_load(emulator.url, REAL_KNOWLEDGE, tmp_path, residents=20, questions_each=3,
                            group_asks=8, timeout=120)
    assert result.questions == 20 * 3 + 8 + 1
    assert result.replies == result.questions  # every question one reply
    assert result.logged == result.questions and result.logged_once  # and one log row
    assert result.crisis_reply_has_12356
    assert result.crisis_seconds <= 2.0
