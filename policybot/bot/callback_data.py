"""The callback-data codec: `Button` <-> inline-button callback data of at most 64 bytes,
signed so forged data is refused. (Not python-telegram-bot's "callbacks": those are handlers.)

Format: "<action code>|<arg>|<query_id>|<mac>", mac = the first 8 characters of a URL-safe
base64 HMAC-SHA256 over the rest. Telegram returns callback data verbatim from the client, so
everything in it is untrusted until `decode` has checked the MAC and every field's shape.
Pure functions: no I/O, only Telegram's limit from telegram.constants.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from telegram.constants import InlineKeyboardButtonLimit

from policybot import replies
from policybot.model import ID_PATTERN, LANGUAGES, QUERY_ID_PATTERN, Button

MAX_BYTES = int(InlineKeyboardButtonLimit.MAX_CALLBACK_DATA)  # python-telegram-bot does not check it
MAC_CHARS = 8  # 48 bits: plenty against guessing, small enough to leave room for ids
SEP = "|"

# One character per action keeps the data short.
CODES = {
    replies.ACT_PICK: "p",
    replies.ACT_NONE: "n",
    replies.ACT_HELPFUL: "h",
    replies.ACT_UNHELPFUL: "u",
    replies.ACT_ENTRY: "e",
    replies.ACT_TOPICS: "t",
    replies.ACT_CATEGORY: "c",
    replies.ACT_LANG: "l",
}
ACTIONS_BY_CODE = {code: action for action, code in CODES.items()}

MAX_ID_CHARS = 40  # an entry or category id longer than this would not fit with a query id

_NEEDS_QUERY = {replies.ACT_PICK, replies.ACT_NONE}  # a choice without its query means nothing
# buttons that record something: only the resident they were sent to may press them
OWNED = {replies.ACT_PICK, replies.ACT_NONE, replies.ACT_HELPFUL, replies.ACT_UNHELPFUL}


def _valid_id(value: str) -> bool:
    return len(value) <= MAX_ID_CHARS and ID_PATTERN.match(value) is not None


def _valid_arg(action: str, arg: str) -> bool:
    if action in (
        replies.ACT_PICK,
        replies.ACT_HELPFUL,
        replies.ACT_UNHELPFUL,
        replies.ACT_ENTRY,
        replies.ACT_CATEGORY,
    ):
        return _valid_id(arg)
    if action == replies.ACT_LANG:
        return arg in LANGUAGES
    return arg == ""  # none, topics


def _valid_query_id(action: str, query_id: str) -> bool:
    if query_id == "":
        return action not in _NEEDS_QUERY
    return QUERY_ID_PATTERN.match(query_id) is not None


def derive_secret(seed: str) -> bytes:
    """A key used only for button MACs, from a longer-lived secret (the hash salt or the token)."""
    return hashlib.sha256(b"policybot-callback\0" + seed.encode()).digest()


def _mac(body: str, secret: bytes) -> str:
    digest = hmac.new(secret, body.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:MAC_CHARS]


def _signed(body: str, action: str, owner: int | None) -> str:
    # a button that records something is signed for the resident it was sent to: their user
    # id is in the MAC, not in the data, so another presser's MAC never matches
    return f"{body}{SEP}{owner}" if action in OWNED and owner is not None else body


def encode(button: Button, secret: bytes, owner: int | None = None) -> str:
    """Callback data for `button`, sent to the Telegram user `owner`; ValueError if it is not
    a valid button or would exceed 64 bytes."""
    code = CODES.get(button.action)
    if code is None:
        raise ValueError(f"unknown button action {button.action!r}")
    if not _valid_arg(button.action, button.arg) or not _valid_query_id(button.action, button.query_id):
        raise ValueError(f"button fields not encodable: {button!r}")
    body = SEP.join((code, button.arg, button.query_id))
    data = body + SEP + _mac(_signed(body, button.action, owner), secret)
    if len(data.encode()) > MAX_BYTES:
        raise ValueError(f"callback data would be {len(data.encode())} bytes (max {MAX_BYTES})")
    return data


def decode(data: object, secret: bytes, presser: int | None = None) -> Button | None:
    """The button behind `data` pressed by the Telegram user `presser`, or None when it is
    malformed, unknown, not signed by us, or (a rating or a choice) not the presser's own.

    The label is not part of the data, so the returned Button has an empty label.
    """
    if not isinstance(data, str) or len(data.encode()) > MAX_BYTES:
        return None
    parts = data.split(SEP)
    if len(parts) != 4:
        return None
    code, arg, query_id, mac = parts
    body = SEP.join((code, arg, query_id))
    action = ACTIONS_BY_CODE.get(code)
    if action is None or not hmac.compare_digest(mac.encode(), _mac(_signed(body, action, presser), secret).encode()):
        return None
    if not _valid_arg(action, arg) or not _valid_query_id(action, query_id):
        return None
    return Button("", action, arg, query_id)
