"""The suite's own rules: a missing prerequisite skips on a developer's machine, fails in CI."""

import pytest

from tests.conftest import missing


def test_missing_prerequisite_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        missing("../shared is missing")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        missing("../shared is missing")
