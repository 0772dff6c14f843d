"""Datasette plugin for the staff page (loaded by `policybot staff-web` with --plugins-dir):
nothing without a login, and none of Datasette's /-/ pages but the login itself.

datasette-auth-passwords provides the login (/-/login, the password hash from the environment);
this closes the rest: a visitor without a signed-in staff cookie is sent to the login page, and
/-/threads, /-/versions, /-/databases.json, /-/allow-debug, /-/messages, /-/patterns and every
other debug or introspection page answer 404 to everyone. "/" opens on the log's canned
queries. A login lasts a working day
(LOGIN_SECONDS): the cookie carries a signed expiry, which Datasette checks too.
"""

from __future__ import annotations

import time
from http.cookies import SimpleCookie
from typing import Any

from datasette import hookimpl
from datasette.utils import baseconv
from datasette.utils.asgi import Request, Response

LOGIN_SECONDS = 8 * 3600

# the only /-/ paths that stay: logging in and out, and the page's own CSS and scripts
OPEN = ("/-/login", "/-/logout", "/-/static/", "/-/static-plugins/")


def _signed_in(datasette: Any, request: Request) -> bool:
    cookie = request.cookies.get("ds_actor")
    if not cookie:
        return False
    try:
        decoded = datasette.unsign(cookie, "actor")
        expires = int(baseconv.base62.decode(decoded.get("e") or "0"))
    except Exception:  # a forged or damaged cookie is no login
        return False
    actor = decoded.get("a")
    return isinstance(actor, dict) and actor.get("id") == "staff" and time.time() < expires


def _with_expiry(datasette: Any, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The login's ds_actor cookie re-signed with an expiry, kept for LOGIN_SECONDS."""
    out = []
    for name, value in headers:
        if name.lower() == b"set-cookie" and value.startswith(b"ds_actor="):
            parsed: SimpleCookie = SimpleCookie(value.decode("latin-1"))
            actor = datasette.unsign(parsed["ds_actor"].value, "actor")["a"]
            until = baseconv.base62.encode(int(time.time()) + LOGIN_SECONDS)
            cookie: SimpleCookie = SimpleCookie()
            cookie["ds_actor"] = datasette.sign({"a": actor, "e": until}, "actor")
            cookie["ds_actor"]["max-age"] = LOGIN_SECONDS
            cookie["ds_actor"]["path"] = "/"
            cookie["ds_actor"]["samesite"] = "lax"
            cookie["ds_actor"]["httponly"] = True
            value = cookie.output(header="").strip().encode("latin-1")
        out.append((name, value))
    return out


@hookimpl
def asgi_wrapper(datasette: Any) -> Any:
    def wrap(app: Any) -> Any:
        async def guard(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            path = scope.get("path", "")
            is_open = path.startswith(OPEN)
            if path.startswith("/-/") and not is_open:
                await Response.text("Not found", status=404).asgi_send(send)
                return
            if not is_open and not _signed_in(datasette, Request(scope, receive)):
                await Response.redirect("/-/login").asgi_send(send)
                return
            if path == "/":
                # staff land on the canned queries, not on a list of closed tables
                names = [n for n in datasette.databases if not n.startswith("_")]
                if names:
                    await Response.redirect("/" + names[0]).asgi_send(send)
                    return
            if path == "/-/login" and scope.get("method") == "POST":

                async def send_with_expiry(message: dict[str, Any]) -> None:
                    if message["type"] == "http.response.start":
                        message = {**message, "headers": _with_expiry(datasette, list(message.get("headers") or []))}
                    await send(message)

                await app(scope, receive, send_with_expiry)
                return
            await app(scope, receive, send)

        return guard

    return wrap
