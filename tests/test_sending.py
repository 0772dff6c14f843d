"""Sending replies to Telegram: long replies split within Telegram's limit, one limit for all."""

from telegram.constants import InlineKeyboardButtonLimit, MessageLimit

from policybot.bot import callback_data, sending
from policybot.model import MAX_MESSAGE_CHARS


def test_split_message_on_paragraphs():
    paras = ["段" * 1500, "落" * 1500, "文" * 1500]
    parts = sending.split_message("\n\n".join(paras))
    assert parts == [paras[0] + "\n\n" + paras[1], paras[2]]
    assert all(len(p) <= sending.MAX_MESSAGE for p in parts)
    huge = sending.split_message("字" * 9000)
    assert all(len(p) <= sending.MAX_MESSAGE for p in huge) and "".join(huge) == "字" * 9000


def test_the_domain_limits_are_telegrams():
    # knowledge answers are checked against model.MAX_MESSAGE_CHARS without importing telegram
    assert MAX_MESSAGE_CHARS == sending.MAX_MESSAGE == MessageLimit.MAX_TEXT_LENGTH
    assert callback_data.MAX_BYTES == InlineKeyboardButtonLimit.MAX_CALLBACK_DATA
