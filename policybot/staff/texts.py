"""What staff read in Telegram (/stats, /unanswered, /reload and refused hot reloads): Telegram
HTML, English and Chinese side by side. Residents' wording lives in `replies`."""

from __future__ import annotations

from collections.abc import Sequence

from policybot.knowledge import LoadResult
from policybot.model import STATUSES, Status
from policybot.replies import esc
from policybot.storage.records import Group, LogHealth, PossibleEmergency, Stats

MAX_RELOAD_ERRORS = 20
STATUS_ZH = {
    Status.ANSWERED: "已回答",
    Status.AMBIGUOUS: "待选择",
    Status.UNANSWERED: "未回答",
    Status.EMERGENCY: "紧急",
    Status.SMALLTALK: "闲聊",
    Status.OUT_OF_SCOPE: "不在范围",
}
NO_LOG = "query log unavailable. 查询日志不可用。"


def format_stats(title: str, stats: Stats) -> str:
    """Staff report block: totals, share per status, feedback."""
    lines = [f"<b>{esc(title)}</b>", f"total 总数: {stats.total}"]
    for status in STATUSES:
        lines.append(f"{status} {STATUS_ZH[Status(status)]}: {stats.count(status)} ({stats.share(status):.0%})")
        if status == Status.EMERGENCY and stats.emergency_kinds:
            lines.append("  " + ", ".join(f"{k} {n}" for k, n in stats.emergency_kinds.items()))
    lines.append(f"👍 helpful 有帮助: {stats.helpful}　👎 unhelpful 没帮助: {stats.unhelpful}")
    lines.append(f"did-you-mean picked 选中: {stats.chose_entry}　none 都不是: {stats.chose_none}")
    return "\n".join(lines)


def format_groups(groups: Sequence[Group], possible: Sequence[PossibleEmergency] = ()) -> str:
    lines = []
    if possible:
        # first: questions the safety net did not flag but that carry risk words
        lines.append("<b>⚠️ Possible emergencies — please read 可能的紧急情况，请阅读</b>")
        for p in possible:
            lines.append(f"• {esc(p.text[:200])} <i>({esc(', '.join(p.risk))})</i>")
        lines.append("")
    if not groups:
        lines.append("No unanswered questions this week. 本周没有未回答的问题。")
        return "\n".join(lines)
    lines.append("<b>Unanswered this week 本周未回答</b>")
    for i, group in enumerate(groups, 1):
        lines.append(f"{i}. ({group.count}×) {esc(group.example)}")
    return "\n".join(lines)


def format_reload(result: LoadResult, serving_version: str) -> str:
    if result.kb is not None:
        return esc(f"reloaded: {len(result.kb.entries)} entries, version {result.kb.version}")
    errors = result.errors
    lines = [f"reload refused: {len(errors)} error(s); still serving version {serving_version}"]
    lines += [f"{p.file}:{p.line}: {p.message}" for p in errors[:MAX_RELOAD_ERRORS]]
    if len(errors) > MAX_RELOAD_ERRORS:
        lines.append(f"… {len(errors) - MAX_RELOAD_ERRORS} more")
    return esc("\n".join(lines))


def format_health(health: LogHealth) -> str:
    """Storage problems in staff words; "" when there are none."""
    lines = []
    for name in health.moved_aside:
        lines.append(f"⚠️ the query log file was damaged and moved aside as {esc(name)}; a new log was started. "
                     "查询日志文件已损坏并移到一旁，已新建日志。")
    if health.failures:
        lines.append(f"⚠️ the query log cannot be written ({health.failures} failed attempts: "
                     f"{esc(health.last_error)}); {health.queued} rows wait in memory. 查询日志暂时无法写入。")
    if health.journal_rows:
        lines.append(f"⚠️ {health.journal_rows} rows wait in the journal on disk; they are written when the "
                     "log is writable again. 有记录暂存在磁盘日志中，恢复后自动写入。")
    return "\n".join(lines)


def format_storage_error(exc: Exception) -> str:
    """A staff command could not read the log: what happened, not the residents' apology."""
    return (f"query log unreadable: {esc(type(exc).__name__)}: {esc(str(exc))[:300]}. "
            "查询日志读取失败，请检查数据库文件和磁盘。")
