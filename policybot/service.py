"""The domain entry point that both front ends call: safety → normalise → match → reply → log.

Holds the current knowledge base and its matcher as one value, swapped with one assignment
on reload, so a question is always answered from one whole knowledge base. Built by
`bootstrap.start_service`; knows nothing of Telegram or the terminal.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from policybot import replies
from policybot.knowledge import LoadResult
from policybot.knowledge.cache import prepare
from policybot.knowledge.loader import SUFFIXES
from policybot.matching.matcher import MAX_QUERY_CHARS, Matcher
from policybot.matching.normalise import detect_script
from policybot.model import Button, KnowledgeBase, MatchResult, Reply, Status, clean_text, new_query_id
from policybot.storage.interface import QueryLog
from policybot.storage.records import QueryRecord

log = logging.getLogger(__name__)

MAX_LOGGED_CHARS = 2000  # a pasted novel is cut before it reaches the log
# Shown as buttons under /start: one question each from booking, screening and insurance.
EXAMPLE_ENTRIES = ("online-appointment", "two-cancer-screening", "outpatient-reimbursement")


@dataclass(frozen=True)
class Answer:
    result: MatchResult
    reply: Reply
    query_id: str
    lang: str  # the language the reply is written in


@dataclass(frozen=True)
class _State:
    kb: KnowledgeBase
    matcher: Matcher


class Service:
    def __init__(
        self,
        kb: KnowledgeBase,
        querylog: QueryLog | None = None,
        *,
        knowledge_dir: Path | None = None,
        overrides: Mapping[str, float] | None = None,
        matcher: Matcher | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        """`overrides`: thresholds that beat knowledge/matching.yaml (Config.threshold_overrides);
        `matcher`: one already built for `kb` (from the cache); `cache_dir`: where a reload
        keeps what it built (knowledge.cache)."""
        self._overrides = dict(overrides or {})
        self._state = self._build(kb, matcher)
        self.cache_dir = cache_dir
        self.querylog = querylog
        self.knowledge_dir = knowledge_dir
        self._fingerprint = _fingerprint(knowledge_dir) if knowledge_dir else None

    def _build(self, kb: KnowledgeBase, matcher: Matcher | None = None) -> _State:
        settings = kb.settings.with_overrides(self._overrides)
        if matcher is None:
            return _State(kb, Matcher(kb, settings))
        matcher.settings = settings
        return _State(kb, matcher)

    @property
    def kb(self) -> KnowledgeBase:
        return self._state.kb

    @property
    def matcher(self) -> Matcher:
        return self._state.matcher

    # -- questions -------------------------------------------------------------------

    def ask(self, question: str, *, chat: str, lang: str, channel: str) -> Answer:
        """Answer one question and log it exactly once. `lang` is the user's preference,
        used when the question's own script does not decide (digits, emoji)."""
        started = time.perf_counter()
        question = clean_text(question)
        state = self._state  # one knowledge base for the whole question
        result = state.matcher.match(question)
        reply_lang = detect_script(question[:MAX_QUERY_CHARS], default=lang)
        query_id = new_query_id()
        reply = replies.build(state.kb, result, reply_lang, query_id)
        if len(question) > MAX_QUERY_CHARS and result.status is not Status.EMERGENCY:
            reply = Reply(replies.esc(replies.text("too_long", reply_lang)) + "\n\n" + reply.html, reply.buttons)
        if self.querylog is not None:
            self.querylog.record(
                QueryRecord(
                    query_id=query_id,
                    at=dt.datetime.now(dt.UTC),
                    chat=chat,
                    lang=reply_lang,
                    text=question[:MAX_LOGGED_CHARS],
                    normalised=result.normalised,
                    status=str(result.status),
                    entry_id=result.entry_id,
                    score=round(result.score, 1),
                    candidates=tuple(c.entry_id for c in result.candidates)
                    if result.status is Status.AMBIGUOUS
                    else (),
                    latency_ms=round((time.perf_counter() - started) * 1000, 2),
                    kb_version=state.kb.version,
                    channel=channel,
                    kinds=tuple(result.special_id.split(","))
                    if result.status is Status.EMERGENCY and result.special_id
                    else (),
                    risk=result.risk,
                )
            )
        return Answer(result, reply, query_id, reply_lang)

    def is_emergency(self, message: str) -> bool:
        """Would this message get the emergency reply? (The safety net only: no scoring.)"""
        return self._state.matcher.safety.detect(clean_text(message)).emergency  # the whole message, as ask

    def entry(self, entry_id: str, lang: str, query_id: str = "") -> Reply | None:
        kb = self.kb
        entry = kb.entries.get(entry_id)
        return None if entry is None else replies.entry_reply(kb, entry, lang, query_id)

    def choose(self, query_id: str, entry_id: str | None, lang: str) -> Reply | None:
        """A "did you mean" choice (None = "none of these"): recorded, then answered.
        None when the entry no longer exists (the button is outdated)."""
        reply: Reply | None
        if entry_id is None:
            reply = replies.none_of_these(lang)
        else:
            reply = self.entry(entry_id, lang, query_id)
            if reply is None:
                return None
        if self.querylog is not None:
            self.querylog.choice(query_id, entry_id)
        return reply

    def feedback(self, query_id: str, helpful: bool, lang: str, entry_id: str) -> Reply:
        """A rating of the entry the resident was shown, as the answer to `query_id`."""
        if self.querylog is not None:
            self.querylog.feedback(query_id, helpful, entry_id)
        return replies.simple("thanks_helpful" if helpful else "thanks_unhelpful", lang)

    def press(self, button: Button, lang: str) -> Reply | None:
        """The reply to a pressed button (console and Telegram alike); None means the button is
        outdated and nothing was recorded. ACT_LANG is the caller's: it changes user state."""
        kb = self.kb
        if button.action == replies.ACT_PICK:
            return self.choose(button.query_id, button.arg, lang)
        if button.action == replies.ACT_NONE:
            return self.choose(button.query_id, None, lang)
        if button.action in (replies.ACT_HELPFUL, replies.ACT_UNHELPFUL):
            if button.arg not in kb.entries:
                return None  # feedback on an answer that no longer exists tells editors nothing
            if not button.query_id:
                return None  # a button from before browsing was rated: nothing to attach it to
            return self.feedback(button.query_id, button.action == replies.ACT_HELPFUL, lang, button.arg)
        if button.action == replies.ACT_ENTRY:
            # an entry reached by browsing: its rating buttons carry an id of this view
            return self.entry(button.arg, lang, new_query_id())
        if button.action == replies.ACT_TOPICS:
            return replies.topics(kb, lang)
        if button.action == replies.ACT_CATEGORY:
            return replies.category(kb, button.arg, lang)
        return None

    def welcome(self, lang: str) -> Reply:
        return replies.welcome(self.kb, lang, EXAMPLE_ENTRIES)

    # -- knowledge reload --------------------------------------------------------------

    def reload(self) -> LoadResult:
        """Load the knowledge directory again; swap it in only if it has no errors."""
        if self.knowledge_dir is None:
            raise RuntimeError("this service was built without a knowledge directory")
        fingerprint = _fingerprint(self.knowledge_dir)
        prepared = prepare(self.knowledge_dir, self.cache_dir)
        result = prepared.result
        if result.kb is not None:
            self._state = self._build(result.kb, prepared.matcher)  # one assignment: readers see old or new
            log.info("knowledge reloaded: version %s, %d entries", result.kb.version, len(result.kb.entries))
        else:
            log.warning(
                "knowledge edit refused (%d errors); still serving version %s:\n%s",
                len(result.errors),
                self.kb.version,
                "\n".join(str(p) for p in result.errors[:20]),
            )
        self._fingerprint = fingerprint
        return result

    def reload_if_changed(self) -> LoadResult | None:
        """For the periodic watcher: reload when a file in the knowledge directory changed."""
        if self.knowledge_dir is None or _fingerprint(self.knowledge_dir) == self._fingerprint:
            return None
        return self.reload()


def _fingerprint(directory: Path) -> tuple[tuple[str, int, int], ...]:
    try:
        files = sorted(p for p in directory.iterdir() if p.suffix in SUFFIXES)
        return tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    except OSError:
        return ()
