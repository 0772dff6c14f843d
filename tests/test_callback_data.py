"""The callback-data codec: signed callback data round-trips, fits 64 bytes, and refuses anything else."""

from __future__ import annotations

import pytest

from policybot import replies
from policybot.bot import callback_data
from policybot.model import LANG_HANT, Button

SECRET = callback_data.derive_secret("test-salt")
OTHER = callback_data.derive_secret("other-salt")


@pytest.mark.parametrize(
    "button",
    [
        Button("x", replies.ACT_PICK, "online-appointment", "abc123xyz0"),
        Button("x", replies.ACT_NONE, "", "abc123xyz0"),
        Button("x", replies.ACT_HELPFUL, "two-cancer-screening", "q1"),
        Button("x", replies.ACT_UNHELPFUL, "two-cancer-screening", ""),
        Button("x", replies.ACT_ENTRY, "flu-vaccine"),
        Button("x", replies.ACT_TOPICS),
        Button("x", replies.ACT_CATEGORY, "insurance"),
        Button("x", replies.ACT_LANG, LANG_HANT),
    ],
)
def test_round_trip(button: Button) -> None:
    data = callback_data.encode(button, SECRET)
    assert len(data.encode()) <= callback_data.MAX_BYTES
    assert callback_data.decode(data, SECRET) == Button("", button.action, button.arg, button.query_id)


def test_longest_real_button_fits() -> None:
    # entry ids are at most 40 characters, query ids 10 (model.new_query_id)
    button = Button("x", replies.ACT_UNHELPFUL, "a" * 40, "q" * 10)
    assert len(callback_data.encode(button, SECRET).encode()) <= 64


def test_over_64_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="64"):
        callback_data.encode(Button("x", replies.ACT_PICK, "a" * 40, "q" * 32), SECRET)


@pytest.mark.parametrize(
    "button",
    [
        Button("x", "delete-everything", "x"),  # unknown action
        Button("x", replies.ACT_ENTRY, "Not Kebab"),
        Button("x", replies.ACT_ENTRY, "a|b"),  # would break the format
        Button("x", replies.ACT_LANG, "fr"),
        Button("x", replies.ACT_PICK, "flu-vaccine", ""),  # a choice needs its query
        Button("x", replies.ACT_TOPICS, "extra"),
    ],
)
def test_invalid_buttons_are_not_encoded(button: Button) -> None:
    with pytest.raises(ValueError):
        callback_data.encode(button, SECRET)


def _resign(body: str) -> str:
    return body + "|" + callback_data._mac(body, SECRET)


@pytest.mark.parametrize(
    "data",
    [
        None,
        "",
        "garbage",
        "p|online-appointment|abc123xyz0",  # no MAC
        "p|online-appointment|abc123xyz0|AAAAAAAA",  # wrong MAC
        "x" * 65,
        "é" * 40,  # 80 bytes
        _resign("z|online-appointment|abc"),  # signed but unknown action
        _resign("e|../../etc|"),  # signed but not an id
        _resign("l|fr|"),
        _resign("p|flu-vaccine|"),
        _resign("p|flu-vaccine|UPPER"),
        _resign("t|x|"),
        _resign("e|flu|vaccine|"),  # too many fields
    ],
)
def test_malformed_forged_or_unknown_data_is_refused(data: object) -> None:
    assert callback_data.decode(data, SECRET) is None


def test_data_signed_with_another_secret_is_refused() -> None:
    data = callback_data.encode(Button("x", replies.ACT_HELPFUL, "flu-vaccine", "abc"), OTHER)
    assert callback_data.decode(data, SECRET) is None


def test_tampered_argument_is_refused() -> None:
    data = callback_data.encode(Button("x", replies.ACT_PICK, "flu-vaccine", "abc"), SECRET)
    assert callback_data.decode(data.replace("flu-vaccine", "hpv-vaccine"), SECRET) is None


def test_ratings_and_choices_are_signed_for_the_resident_they_were_sent_to():
    secret = callback_data.derive_secret("s")
    for action, arg in ((replies.ACT_HELPFUL, "card"), (replies.ACT_PICK, "card"), (replies.ACT_NONE, "")):
        data = callback_data.encode(Button("x", action, arg, "abc123"), secret, owner=1001)
        assert callback_data.decode(data, secret, 1001) == Button("", action, arg, "abc123")
        assert callback_data.decode(data, secret, 2002) is None  # someone else's
        assert callback_data.decode(data, secret) is None
    # browsing is anyone's
    data = callback_data.encode(Button("x", replies.ACT_ENTRY, "card"), secret, owner=1001)
    assert callback_data.decode(data, secret, 2002) == Button("", replies.ACT_ENTRY, "card")
