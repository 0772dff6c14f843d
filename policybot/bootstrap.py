"""Building the service from a `Config`: the one way the bot, the console and the CLI start.

Load the knowledge base and its matcher (from the on-disk cache when the knowledge and code
are unchanged; or stop with `KnowledgeError`, which prints every error), open the query log
(or go on without one: answering matters more than logging), set the operator's threshold
overrides, and put them together in a `Service`. The CLI's
tools that need only a matcher use `build_matcher`.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from policybot.config import Config
from policybot.knowledge import KnowledgeError
from policybot.knowledge.cache import prepare
from policybot.matching.matcher import Matcher
from policybot.model import KnowledgeBase
from policybot.service import Service
from policybot.storage.interface import QueryLog
from policybot.storage.sqlite import SQLiteQueryLog

log = logging.getLogger(__name__)


def build_matcher(cfg: Config, kb: KnowledgeBase) -> Matcher:
    """The matcher the service would use: matching.yaml's settings under the overrides."""
    return Matcher(kb, kb.settings.with_overrides(cfg.threshold_overrides))


def prepared_matcher(cfg: Config, directory: Path | None = None) -> Matcher:
    """The matcher of the knowledge directory, from the cache when it is current (see
    knowledge.cache); KnowledgeError when the knowledge has errors."""
    directory = directory or cfg.knowledge_dir
    prepared = prepare(directory, cfg.cache_dir)
    if prepared.matcher is None:
        raise KnowledgeError(directory, prepared.result)
    matcher = prepared.matcher
    matcher.settings = matcher.kb.settings.with_overrides(cfg.threshold_overrides)
    return matcher


async def open_querylog(cfg: Config) -> QueryLog | None:
    querylog: QueryLog
    try:
        if cfg.database_url:
            from policybot.storage.postgres import PostgresQueryLog

            # rows PostgreSQL cannot take wait beside where the SQLite log would be
            querylog = PostgresQueryLog(cfg.database_url, cfg.salt(), journal=cfg.db_path.parent / "postgres.journal")
        else:
            querylog = SQLiteQueryLog(cfg.db_path, cfg.salt())
        await querylog.open()
    except Exception as exc:  # answering matters more than logging: serve without a log
        log.warning("query log %s unavailable (%s); questions will not be logged", cfg.database_name, exc)
        return None
    return querylog


async def start_service(cfg: Config, *, log_warnings: bool = True) -> Service:
    """Knowledge, log and matcher, ready to answer; KnowledgeError when the knowledge has errors.
    Loading and indexing run off the event loop."""
    prepared = await asyncio.to_thread(prepare, cfg.knowledge_dir, cfg.cache_dir)
    result = prepared.result
    if result.kb is None or prepared.matcher is None:
        raise KnowledgeError(cfg.knowledge_dir, result)
    if result.warnings and log_warnings:
        log.warning("knowledge base has %d warning(s); see python -m policybot check", len(result.warnings))
    querylog = await open_querylog(cfg)
    try:
        service = Service(result.kb, querylog, knowledge_dir=cfg.knowledge_dir, overrides=cfg.threshold_overrides,
                          matcher=prepared.matcher, cache_dir=cfg.cache_dir)
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
