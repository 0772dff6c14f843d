"""Building the service from a `Config`: the one way the bot, the console and the CLI start.

Load the knowledge base (or stop with `KnowledgeError`, which prints every error), open the
query log (or go on without one: answering matters more than logging), build the matcher
with the operator's threshold overrides, and put them together in a `Service`. The CLI's
tools that need only a matcher use `build_matcher`.
"""

from __future__ import annotations

import asyncio
import logging

from policybot.config import Config
from policybot.knowledge import KnowledgeError, load
from policybot.matching.matcher import Matcher
from policybot.model import KnowledgeBase
from policybot.service import Service
from policybot.storage.interface import QueryLog
from policybot.storage.sqlite import SQLiteQueryLog

log = logging.getLogger(__name__)


def build_matcher(cfg: Config, kb: KnowledgeBase) -> Matcher:
    """The matcher the service would use: matching.yaml's settings under the overrides."""
    return Matcher(kb, kb.settings.with_overrides(cfg.threshold_overrides))


async def open_querylog(cfg: Config) -> QueryLog | None:
    try:
        querylog = SQLiteQueryLog(cfg.db_path, cfg.salt())
        await querylog.open()
    except Exception as exc:  # answering matters more than logging: serve without a log
        log.warning("query log %s unavailable (%s); questions will not be logged", cfg.db_path, exc)
        return None
    return querylog


async def start_service(cfg: Config, *, log_warnings: bool = True) -> Service:
    """Knowledge, log and matcher, ready to answer; KnowledgeError when the knowledge has errors.
    Loading and indexing run off the event loop."""
    result = await asyncio.to_thread(load, cfg.knowledge_dir)
    if result.kb is None:
        raise KnowledgeError(cfg.knowledge_dir, result)
    if result.warnings and log_warnings:
        log.warning("knowledge base has %d warning(s); see python -m policybot check", len(result.warnings))
    querylog = await open_querylog(cfg)
    try:
        service = await asyncio.to_thread(
            Service, result.kb, querylog, knowledge_dir=cfg.knowledge_dir, overrides=cfg.threshold_overrides
        )
    except BaseException:
        if querylog is not None:
            await querylog.close()
        raise
    log.info("serving knowledge version %s with %d entries", result.kb.version, len(result.kb.entries))
    return service


async def stop_service(service: Service) -> None:
    """Close the query log, which flushes what is queued."""
    if service.querylog is not None:
        await service.querylog.close()
