"""The staff page in a real browser: `python -m policybot staff-web` (Datasette) + headless Chromium.

Chromium comes from scripts/install-chromium.sh. Set POLICYBOT_UPDATE_DOCS=1 to also refresh
docs/staff-page.png and docs/report.png from this run.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import datetime as dt
import html
import io
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from policybot.knowledge import load
from policybot.staff import report as staff_report
from policybot.storage.postgres import PostgresQueryLog
from policybot.storage.privacy import hash_chat
from policybot.storage.records import QueryRecord
from policybot.storage.reports import QueryLogReader
from policybot.storage.sqlite import SQLiteQueryLog
from tests.conftest import missing

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or (os.path.exists("/usr/bin/chromium") and "/usr/bin/chromium") or None
UPDATE_DOCS = os.environ.get("POLICYBOT_UPDATE_DOCS") == "1"
SALT = "e2e-salt"
DB_NAME = "stafflog"  # the served file's stem: staff-web renames the metadata's database block
PASSWORD = "e2e staff password"
PASSWORD_HASH = "pbkdf2_sha256$1000$e2esalt$" + __import__("base64").b64encode(
    __import__("hashlib").pbkdf2_hmac("sha256", PASSWORD.encode(), b"e2esalt", 1000)
).decode()  # few iterations: the test logs in many times

pytestmark = pytest.mark.e2e
# datasette-vega's chart of questions per day, as the page's own link draws it
CHART = "#g.mark=line&g.x_column=day&g.x_type=ordinal&g.y_column=total&g.y_type=quantitative"


@pytest.fixture(autouse=True)
def _chromium_installed() -> None:
    if CHROMIUM is None:
        missing("chromium is not installed (run scripts/install-chromium.sh)")

# (text, status, entry, helpful, chat)
ROWS = [
    ("医保卡丢了怎么补办", "unanswered", None, None, "tg:1001"),
    ("医保卡丢了怎么补办", "unanswered", None, None, "tg:1002"),
    ("医保卡丢了怎么补办", "unanswered", None, None, "tg:1003"),
    ("异地就医怎么备案", "unanswered", None, None, "tg:1001"),
    ("宠物狗打疫苗去哪", "unanswered", None, None, "tg:1004"),
    ("门诊怎么报销", "answered", "outpatient-reimbursement", True, "tg:1005"),
    ("门诊能报多少", "answered", "outpatient-reimbursement", False, "tg:1006"),
    ("住院报销比例", "answered", "inpatient-reimbursement", False, "tg:1007"),
    ("孩子几个月打疫苗", "answered", "child-vaccination", True, "console"),
    ("你好", "smalltalk", None, None, "tg:1008"),
]


async def _fill(path: Path | str) -> None:
    """The log at `path` (a SQLite file, or a postgresql:// URL) with ROWS and a fortnight before."""
    now = dt.datetime.now(dt.UTC)
    log = PostgresQueryLog(path, SALT) if isinstance(path, str) else SQLiteQueryLog(path, SALT)
    async with log as qlog:
        for i, (text, status, entry, helpful, chat) in enumerate(ROWS):
            qid = f"e2e{i:07d}"
            qlog.record(
                QueryRecord(
                    query_id=qid,
                    at=now - dt.timedelta(hours=i * 7),
                    chat=chat,
                    lang="zh-Hans",
                    text=text,
                    normalised=text,
                    status=status,
                    entry_id=entry,
                    score=70.0 if entry else 25.0,
                    candidates=(),
                    latency_ms=3.0 + i,
                    kb_version="e2e",
                    channel="console" if chat == "console" else "telegram",
                )
            )
            if helpful is not None:
                qlog.feedback(qid, helpful, entry or "none")
        # a fortnight of answered questions before that, so that the daily chart has a line
        for day in range(3, 17):
            for k in range(day % 4 + 1):
                qlog.record(QueryRecord(
                    query_id=f"e2h{day:03d}{k:04d}", at=now - dt.timedelta(days=day, hours=k), chat=f"tg:{2000 + k}",
                    lang="zh-Hans", text="孩子几个月打疫苗", normalised="孩子几个月打疫苗", status="answered",
                    entry_id="child-vaccination", score=70.0, candidates=(), latency_ms=3.0, kb_version="e2e",
                    channel="telegram"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _get(url: str, timeout: float = 10, cookie: str = "", data: bytes | None = None) -> tuple[int, str]:
    """(status, body) without following redirects; `cookie` is sent as the Cookie header."""
    request = urllib.request.Request(url, data=data, headers={"Cookie": cookie} if cookie else {})
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as resp:
            return resp.status, resp.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        location = exc.headers.get("location", "")
        cookies = "; ".join(v.split(";")[0] for k, v in exc.headers.items() if k.lower() == "set-cookie")
        return exc.code, f"{location}\n{cookies}"


def _login(base: str, password: str = PASSWORD) -> str:
    """The signed-in cookie ("" when refused)."""
    form = urllib.parse.urlencode({"username": "staff", "password": password}).encode()
    status, body = _get(base + "/-/login", data=form)
    cookie = body.split("\n", 1)[1] if "\n" in body else ""
    return cookie if status == 302 and "ds_actor=" in cookie else ""


@contextlib.contextmanager
def _staff_web(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """`python -m policybot staff-web ARGS` on a free port until the block ends; its base URL."""
    port = _free_port()
    log = (tmp_path / "staff-web.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "policybot", "staff-web", *args, "--port", str(port)],
        cwd=REPO,
        env={**os.environ, "POLICYBOT_STAFF_PASSWORD_HASH": PASSWORD_HASH, **(env or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own group, so cleanup can reach Datasette too
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"staff-web exited: {(tmp_path / 'staff-web.log').read_text()}")
            try:
                if _get(base + "/-/login", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"staff-web did not start: {(tmp_path / 'staff-web.log').read_text()}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()  # staff-web passes SIGTERM on to Datasette
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.fixture
def staff_page(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    db = tmp_path / f"{DB_NAME}.sqlite3"
    asyncio.run(_fill(db))
    with _staff_web(tmp_path, "--db", str(db)) as base:
        yield base, db


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    assert CHROMIUM is not None
    profile = tmp_path / "chromium-profile"
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--lang=zh-CN",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, timeout=90, check=False)


def dump_dom(tmp_path: Path, url: str) -> str:
    result = _chromium(tmp_path, "--virtual-time-budget=3000", "--dump-dom", url)
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    return result.stdout.decode("utf-8")


def screenshot(tmp_path: Path, url: str, out: Path, size: str = "1280,900") -> Path:
    result = _chromium(
        tmp_path,
        "--virtual-time-budget=3000",
        "--hide-scrollbars",
        f"--window-size={size}",
        f"--screenshot={out}",
        url,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return out


def _line_pixels(png: Path) -> int:
    """Pixels of datasette-vega's line colour (#ab5787 and its anti-aliased neighbours)."""
    from PIL import Image

    with Image.open(png) as im:
        rgb = im.convert("RGB")
        return sum(1 for r, g, b in rgb.get_flattened_data() if r - g > 50 and b - g > 25 and r < 240)


def _browser_login(tmp_path: Path, base: str) -> None:
    """Sign Chromium's profile in: a page that posts the login form (the cookie stays in the
    profile every later Chromium run of this test uses)."""
    page = tmp_path / "login.html"
    page.write_text(
        f"<form method=post action='{base}/-/login'><input name=username value=staff>"
        f"<input name=password value='{PASSWORD}'></form><script>document.forms[0].submit()</script>",
        encoding="utf-8",
    )
    dump_dom(tmp_path, page.as_uri())


def test_staff_page_is_closed_without_the_login(staff_page: tuple[str, Path]) -> None:
    base, _db = staff_page
    # nothing but the login page without signing in
    for path in ("/", f"/{DB_NAME}", f"/{DB_NAME}/unanswered_this_week", f"/{DB_NAME}/unanswered_this_week.csv"):
        status, body = _get(base + path)
        assert (status, body.split("\n")[0]) == (302, "/-/login"), path
    assert _login(base, "wrong password") == ""
    cookie = _login(base)
    assert cookie
    assert _get(base + f"/{DB_NAME}/unanswered_this_week.csv", cookie=cookie)[0] == 200
    # signed in, the landing page is the log's canned queries
    assert _get(base + "/", cookie=cookie)[:1] == (302,) and _get(base + "/", cookie=cookie)[1].startswith(f"/{DB_NAME}")
    # Datasette's debug and introspection pages are closed, signed in or not
    for path in ("/-/threads", "/-/versions", "/-/versions.json", "/-/allow-debug", "/-/messages",
                 "/-/patterns", "/-/databases.json", "/-/plugins.json", "/-/settings.json", "/-/metadata.json",
                 "/-/actor.json", "/-/permissions", "/-/config"):
        assert _get(base + path)[0] == 404, path
        assert _get(base + path, cookie=cookie)[0] == 404, path
    # raw tables (and their CSV), arbitrary SQL and the file are closed to staff too
    for path in (f"/{DB_NAME}/queries", f"/{DB_NAME}/query_log", f"/{DB_NAME}/feedback.csv",
                 f"/{DB_NAME}/staff_attempts", f"/{DB_NAME}?sql=select+1", f"/{DB_NAME}.db"):
        assert _get(base + path, cookie=cookie)[0] in (403, 404), path


def test_staff_page_in_chromium(staff_page: tuple[str, Path], tmp_path: Path) -> None:
    base, _db = staff_page
    _browser_login(tmp_path, base)
    cookie = _login(base)

    # the landing page lists the canned queries, not the raw tables, with Chinese titles
    index = dump_dom(tmp_path, base + "/")
    assert "本周未回答的问题" in index

    # the week's unanswered questions grouped by similarity, as report groups them
    grouped = dump_dom(tmp_path, base + "/unanswered-groups")
    assert "相似的归为一组" in grouped and "医保卡丢了怎么补办" in grouped
    status, body = _get(base + "/unanswered-groups?_format=csv", cookie=cookie)
    assert status == 200
    groups = list(csv.DictReader(io.StringIO(body)))
    assert groups[0]["example"] == "医保卡丢了怎么补办" and int(groups[0]["times"]) >= 3
    assert _get(base + "/unanswered-groups")[0] == 302  # behind the login
    for name in ("unanswered_this_week", "unhelpful_answers", "daily_volume", "queries_by_entry"):
        assert f"/{DB_NAME}/{name}" in index
    assert "每日问题数与回答率" in index and "没帮助的回答" in index

    # a canned query shows the rows this test wrote
    page = dump_dom(tmp_path, base + f"/{DB_NAME}/unanswered_this_week")
    assert "医保卡丢了怎么补办" in page
    assert "异地就医怎么备案" in page
    assert "门诊怎么报销" not in page  # answered questions are not gaps

    # the CSV link in the page works and has the same rows
    links = [html.unescape(h) for h in re.findall(r'href="([^"]*\.csv[^"]*)"', page)]
    assert links, "no CSV link on the canned query page"
    status, body = _get(urllib.parse.urljoin(base, links[0]), cookie=cookie)
    assert status == 200
    rows = list(csv.DictReader(io.StringIO(body)))
    by_question = {r["question"]: int(r["times"]) for r in rows}
    assert by_question == {"医保卡丢了怎么补办": 3, "异地就医怎么备案": 1, "宠物狗打疫苗去哪": 1}

    # other canned queries render the test's data
    unhelpful = dump_dom(tmp_path, base + f"/{DB_NAME}/unhelpful_answers")
    assert "inpatient-reimbursement" in unhelpful and "outpatient-reimbursement" in unhelpful
    daily = dump_dom(tmp_path, base + f"/{DB_NAME}/daily_volume")
    assert "answered_pct" in daily and "g.mark=line" in daily  # the vega chart links
    chart = dump_dom(tmp_path, base + f"/{DB_NAME}/daily_volume" + CHART)
    assert re.search(r'<canvas[^>]*class="marks"', chart), "datasette-vega drew no chart"

    # privacy: no chat hashes anywhere the page reaches, raw tables and arbitrary SQL closed
    browse = dump_dom(tmp_path, base + f"/{DB_NAME}/recent_questions")
    assert "门诊能报多少" in browse
    for _text, _status, _entry, _helpful, chat in ROWS:
        h = hash_chat(chat, SALT)
        assert h not in browse and h not in page and h not in body
    assert "chat_hash" not in browse
    assert _get(base + f"/{DB_NAME}/queries", cookie=cookie)[0] == 403
    assert _get(base + f"/{DB_NAME}/staff_attempts", cookie=cookie)[0] == 403
    sql = urllib.parse.quote("select chat_hash from queries")
    assert _get(base + f"/{DB_NAME}?sql={sql}", cookie=cookie)[0] == 403
    assert _get(base + f"/{DB_NAME}.db", cookie=cookie)[0] in (403, 404)

    # the chart is visible: the screenshot has the line's colour, which the page without it lacks
    shot = screenshot(tmp_path, base + f"/{DB_NAME}/daily_volume" + CHART, tmp_path / "staff-page.png",
                      size="1280,1400")
    plain = screenshot(tmp_path, base + f"/{DB_NAME}/daily_volume", tmp_path / "no-chart.png", size="1280,1400")
    assert _line_pixels(shot) >= 150 and _line_pixels(plain) == 0
    if UPDATE_DOCS:
        (REPO / "docs").mkdir(exist_ok=True)
        shutil.copyfile(shot, REPO / "docs" / "staff-page.png")


def test_staff_page_on_postgres(postgres: Any, tmp_path: Path) -> None:
    """With POLICYBOT_DATABASE_URL the page serves a copy of the PostgreSQL log, kept fresh."""
    url = postgres.createdb("staff_page")
    asyncio.run(_fill(url))
    env = {"POLICYBOT_DATABASE_URL": url, "POLICYBOT_HASH_SALT": SALT, "POLICYBOT_DB": str(tmp_path / "data" / "x.sqlite3")}
    with _staff_web(tmp_path, "--refresh", "0.5", env=env) as base:
        assert _get(base + "/policybot/unanswered_this_week.csv")[0] == 302  # the login holds here too
        cookie = _login(base)
        status, body = _get(base + "/policybot/unanswered_this_week.csv", cookie=cookie)
        assert status == 200
        assert {r["question"]: int(r["times"]) for r in csv.DictReader(io.StringIO(body))} == {
            "医保卡丢了怎么补办": 3, "异地就医怎么备案": 1, "宠物狗打疫苗去哪": 1}
        assert _get(base + "/policybot/queries", cookie=cookie)[0] == 403  # raw tables closed
        assert _get(base + "/policybot/mirror_state", cookie=cookie)[0] == 403

        async def one_more() -> None:
            async with PostgresQueryLog(url, SALT) as qlog:
                qlog.record(QueryRecord(
                    query_id="e2epg00001", at=dt.datetime.now(dt.UTC), chat="tg:3001", lang="zh-Hans",
                    text="异地就医怎么备案", normalised="异地就医怎么备案", status="unanswered", entry_id=None,
                    score=20.0, candidates=(), latency_ms=3.0, kb_version="e2e", channel="telegram"))

        asyncio.run(one_more())  # a replica logs another question: the page shows it shortly
        deadline = time.monotonic() + 15
        while True:
            body = _get(base + "/policybot/unanswered_this_week.csv", cookie=cookie)[1]
            if {r["question"]: int(r["times"]) for r in csv.DictReader(io.StringIO(body))}.get("异地就医怎么备案") == 2:
                break
            assert time.monotonic() < deadline, body
            time.sleep(0.3)
    copy = tmp_path / "data" / "staff-copy" / "policybot.sqlite3"
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600


def test_report_screenshot(tmp_path: Path) -> None:
    """The terminal report rendered as an image (docs/report.png)."""
    db = tmp_path / "report.sqlite3"
    asyncio.run(_fill(db))

    async def build() -> staff_report.Report:
        async with QueryLogReader(db) as qlog:
            since = dt.datetime.now(dt.UTC) - dt.timedelta(days=7)
            # entry questions from the real knowledge base when it loads (else the column is empty)
            titles = staff_report.entry_titles(load(REPO / "knowledge").kb)
            return await staff_report.build_report(qlog, since, utc_offset=dt.timedelta(hours=8), titles=titles)

    text = staff_report.render_text(asyncio.run(build()))
    page = tmp_path / "report.html"
    page.write_text(
        "<!doctype html><meta charset='utf-8'><style>body{margin:0;background:#1e1e1e}"
        "pre{margin:16px;color:#ddd;font:14px/1.35 'Noto Sans Mono CJK SC','DejaVu Sans Mono',monospace}</style>"
        f"<pre>$ python -m policybot report --since 7d --utc-offset +08:00\n{html.escape(text)}</pre>",
        encoding="utf-8",
    )
    shot = screenshot(tmp_path, page.as_uri(), tmp_path / "report.png", size="1280,900")
    if UPDATE_DOCS:
        (REPO / "docs").mkdir(exist_ok=True)
        shutil.copyfile(shot, REPO / "docs" / "report.png")
