"""Privacy before anything is stored: phone and ID-card numbers masked in questions, chats
known only by a salted hash."""

from __future__ import annotations

import hashlib
import hmac
import re

# Full-width digits are folded first so "１３８..." is caught like "138...".
_FULLWIDTH_DIGITS = str.maketrans("０１２３４５６７８９Ｘｘ", "0123456789Xx")
# 18-digit ID (17 digits + check digit or X), optionally grouped 6-8-4; then the old 15-digit one.
_ID18 = re.compile(r"(?<![0-9A-Za-z])\d{6}[ -]?\d{8}[ -]?\d{3}[\dXx](?![0-9A-Za-z])", re.ASCII)
_ID15 = re.compile(r"(?<![0-9A-Za-z])\d{15}(?![0-9A-Za-z])", re.ASCII)
# Mainland mobile: 1[3-9] + 9 digits, optional +86/0086/86 prefix, spaces or dashes as 3-4-4.
_MOBILE = re.compile(
    r"(?<![0-9A-Za-z+])(?:(?:\+|00)?86[ -]?)?1[3-9]\d[ -]?\d{4}[ -]?\d{4}(?![0-9A-Za-z])", re.ASCII
)
# Landline: area code 0xx/0xxx (optionally in brackets) + 7-8 digits. Short numbers
# (120, 12320) and ages/years never match: every pattern needs at least 10 digits.
_LANDLINE = re.compile(
    r"(?<![0-9A-Za-z])(?:\(0\d{2,3}\)|（0\d{2,3}）|0\d{2,3})[ -]?\d{7,8}(?![0-9A-Za-z])", re.ASCII
)
PHONE_MASK = "[电话]"
ID_MASK = "[身份证]"


def mask_pii(text: str) -> str:
    """Replace mainland phone numbers and ID-card numbers with placeholders."""
    text = text.translate(_FULLWIDTH_DIGITS)
    text = _ID18.sub(ID_MASK, text)
    text = _ID15.sub(ID_MASK, text)
    text = _MOBILE.sub(PHONE_MASK, text)
    return _LANDLINE.sub(PHONE_MASK, text)


def hash_chat(chat: str, salt: str) -> str:
    """Salted HMAC-SHA256 (16 hex chars): counts distinct residents without storing who they are."""
    return hmac.new(salt.encode(), chat.encode(), hashlib.sha256).hexdigest()[:16]
