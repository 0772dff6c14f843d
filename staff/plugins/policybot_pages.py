"""Datasette plugin for the staff page: the week's unanswered questions grouped by similarity,
as `python -m policybot report` groups them (canned SQL can only group identical texts).

    /unanswered-groups            the last 7 days' unanswered and "none of these" questions
    /unanswered-groups?_format=csv

Behind the staff login like every page (policybot_guard.py). Reads the served log through
Datasette's read-only connection; the grouping is policybot's own (storage.grouping).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from datasette import hookimpl
from datasette.utils.asgi import Response

from policybot.storage.grouping import group_texts

DAYS = 7
SQL = (
    "SELECT q.text, q.normalised FROM queries q LEFT JOIN choices c ON c.query_id = q.query_id"
    " WHERE q.at >= :since AND (q.status = 'unanswered' OR (c.query_id IS NOT NULL AND c.entry_id IS NULL))"
)


async def unanswered_groups(request: Any, datasette: Any) -> Response:
    names = [n for n in datasette.databases if not n.startswith("_")]
    if not names:
        return Response.text("no query log", status=404)
    db = datasette.get_database(names[0])
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(days=DAYS)).strftime("%Y-%m-%d %H:%M:%S.000")
    rows = [(r[0], r[1]) for r in (await db.execute(SQL, {"since": since})).rows]
    normalised = {text: norm or text for text, norm in rows}
    groups = group_texts([text for text, _ in rows], 70.0, key=normalised.__getitem__)
    if request.args.get("_format") == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["times", "example", "phrasings"])
        for g in groups:
            writer.writerow([g.count, g.example, " | ".join(g.texts)])
        return Response(out.getvalue(), content_type="text/csv; charset=utf-8",
                        headers={"content-disposition": 'attachment; filename="unanswered-groups.csv"'})
    return Response.html(await datasette.render_template(
        "policybot_groups.html", {"groups": groups, "days": DAYS, "database": names[0]}, request=request))


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    return [(r"^/unanswered-groups$", unanswered_groups)]
