"""The http node against a real local HTTP server: fast, slow, failing, not JSON."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from engine import httpnode
from engine.httpnode import MAX_RESPONSE_BYTES, perform
from engine.session.events import HttpRequest


@pytest.fixture
async def backend() -> AsyncIterator[str]:
    async def ok(request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else {}
        answer = {"echo": body, "method": request.method}
        if "Authorization" in request.headers:
            answer["authorization"] = request.headers["Authorization"]
        return web.json_response(answer)

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("s", 2)))
        return web.json_response({})

    async def fail(request: web.Request) -> web.Response:
        return web.Response(status=503, text="down")

    async def missing(request: web.Request) -> web.Response:
        return web.json_response({"reason": "no such meter"}, status=404)

    async def text(request: web.Request) -> web.Response:
        return web.Response(text="<html>not json</html>")

    async def chunked(request: web.Request) -> web.StreamResponse:
        body = json.dumps({"items": [f"item {n}" for n in range(20_000)]}).encode()
        response = web.StreamResponse()
        await response.prepare(request)
        for start in range(0, len(body), 4096):  # as a backend streams it, in chunks
            await response.write(body[start : start + 4096])
            await asyncio.sleep(0.001)
        await response.write_eof()
        return response

    async def huge(request: web.Request) -> web.Response:
        return web.json_response({"blob": "x" * MAX_RESPONSE_BYTES})

    async def deep(request: web.Request) -> web.Response:
        return web.Response(text="[" * 100_000 + "]" * 100_000, content_type="application/json")

    async def nan(request: web.Request) -> web.Response:
        return web.Response(text='{"balance": NaN}', content_type="application/json")

    async def infinite(request: web.Request) -> web.Response:
        return web.Response(text='{"amount": 1e400}', content_type="application/json")

    async def half(request: web.Request) -> web.Response:
        return web.Response(text='{"name": "bad \\ud800 x"}', content_type="application/json")

    async def set_cookie(request: web.Request) -> web.Response:
        response = web.json_response({})
        response.set_cookie("session", "caller-A")
        return response

    async def cookies(request: web.Request) -> web.Response:
        return web.json_response({"cookies": dict(request.cookies)})

    async def moved(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": "/ok?moved=1"})

    async def away(request: web.Request) -> web.Response:  # same port, another host name
        host = "localhost" if request.url.host != "localhost" else "127.0.0.1"
        elsewhere = request.url.with_host(host).with_path("/ok")
        return web.Response(status=307, headers={"Location": str(elsewhere)})

    async def other_port(request: web.Request) -> web.Response:  # same host, another port
        port = request.url.port or 80
        return web.Response(status=307, headers={"Location": f"http://127.0.0.1:{port + 1}/x"})

    async def loop(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": "/loop"})

    app = web.Application()
    app.router.add_route("*", "/moved", moved)
    app.router.add_route("*", "/away", away)
    app.router.add_route("*", "/other-port", other_port)
    app.router.add_get("/loop", loop)
    app.router.add_get("/inf", infinite)
    app.router.add_get("/half", half)
    app.router.add_get("/set-cookie", set_cookie)
    app.router.add_get("/cookies", cookies)
    app.router.add_get("/chunked", chunked)
    app.router.add_get("/huge", huge)
    app.router.add_get("/deep", deep)
    app.router.add_get("/nan", nan)
    app.router.add_route("*", "/ok", ok)
    app.router.add_get("/slow", slow)
    app.router.add_get("/fail", fail)
    app.router.add_get("/missing", missing)
    app.router.add_get("/text", text)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}"
    await runner.cleanup()


async def run(
    url: str, method: str = "GET", body: dict[str, str] | None = None, timeout: float = 1.0
) -> tuple[bool, int, object, str]:
    async with aiohttp.ClientSession() as client:
        done = await perform(client, HttpRequest(7, method, url, body, timeout))
    assert done.request_id == 7
    return done.ok, done.status, done.data, done.error


async def test_post_json(backend: str) -> None:
    ok, status, data, _ = await run(f"{backend}/ok", "POST", {"account": "123"})
    assert ok and status == 200 and data == {"echo": {"account": "123"}, "method": "POST"}


async def test_timeout(backend: str) -> None:
    assert (await run(f"{backend}/slow", timeout=0.2))[::3] == (False, "timeout")


async def test_status_error(backend: str) -> None:
    ok, status, said, error = await run(f"{backend}/fail")
    assert (ok, status, said, error) == (False, 503, None, "status 503")  # "down": not JSON


async def test_an_error_status_keeps_the_backend_s_json_reason(backend: str) -> None:
    """A 404 {"reason": "no such meter"} was only "status 404": the flow could not
    tell the caller why."""
    ok, status, said, error = await run(f"{backend}/missing")
    assert (ok, status, said, error) == (False, 404, {"reason": "no such meter"}, "status 404")


async def test_not_json(backend: str) -> None:
    assert (await run(f"{backend}/text"))[3] == "response is not JSON"


async def test_unreachable() -> None:
    ok, _, _, error = await run("http://127.0.0.1:9/")
    assert (ok, error) == (False, "unreachable: connection refused")
    ok, _, _, error = await run("http://no-such-host.invalid/")
    assert (ok, error) == (False, "unreachable: host not found")


async def test_bad_url() -> None:
    ok, _, _, error = await run("not a url")
    assert (ok, error) == (False, "unreachable: not a URL")


async def test_a_body_in_many_chunks_is_read_to_its_end(backend: str) -> None:
    ok, _, data, error = await run(f"{backend}/chunked")
    assert ok, error
    assert isinstance(data, dict) and len(data["items"]) == 20_000


async def test_a_body_too_large_is_an_error(backend: str) -> None:
    ok, status, data, error = await run(f"{backend}/huge")
    assert (ok, status, data, error) == (False, 200, None, "response too large")


async def test_json_nested_too_deeply_is_an_error_not_a_crash(backend: str) -> None:
    ok, _, _, error = await run(f"{backend}/deep")
    assert not ok and error == "response nested too deeply"


async def test_nan_is_not_json(backend: str) -> None:
    ok, _, _, error = await run(f"{backend}/nan")
    assert not ok and error == "response is not JSON"


@pytest.mark.parametrize("path", ["/inf", "/half"])
async def test_what_the_trail_cannot_carry_is_not_json(backend: str, path: str) -> None:
    """1e400 parses to Infinity and "\\ud800" to half a character: neither can be
    stored, shown on a page or sent to the desktop as JSON."""
    ok, _, _, error = await run(f"{backend}{path}")
    assert not ok and error == "response is not JSON"


async def test_one_caller_s_cookies_do_not_go_out_with_the_next_s(backend: str) -> None:
    # "localhost", not an IP address: aiohttp's jar keeps cookies of named hosts only.
    named = backend.replace("127.0.0.1", "localhost")
    async with httpnode.client() as client:
        await perform(client, HttpRequest(1, "GET", f"{named}/set-cookie", None, 1.0))
        done = await perform(client, HttpRequest(2, "GET", f"{named}/cookies", None, 1.0))
    assert done.ok and done.data == {"cookies": {}}


async def test_a_redirect_on_the_same_host_is_followed(backend: str) -> None:
    ok, _, data, _ = await run(f"{backend}/moved", "POST", {"pin": "1234"})
    assert ok and data == {"echo": {}, "method": "GET"}  # a 302 after a POST: a GET


async def test_a_redirect_to_another_host_is_not_followed(backend: str) -> None:
    """A request (a PIN in its body) goes only to the host the flow named."""
    ok, status, _, error = await run(f"{backend}/away", "POST", {"pin": "1234"})
    assert (ok, status, error) == (False, 307, "redirected to another host (307)")


async def test_a_redirect_to_another_port_of_the_host_is_not_followed(backend: str) -> None:
    """Another port of the same host is another server (a review sent a PIN there)."""
    ok, status, _, error = await run(f"{backend}/other-port", "POST", {"pin": "1234"})
    assert (ok, status, error) == (False, 307, "redirected to another host (307)")


def test_only_the_same_origin_or_its_https_counts_as_the_same_server() -> None:
    from yarl import URL

    from engine.httpnode import _same_origin

    here = URL("http://api.test/a")
    assert _same_origin(here, URL("http://api.test/b"))
    assert _same_origin(here, URL("https://api.test/b"))  # an upgrade to TLS
    assert not _same_origin(here, URL("https://api.test:8443/b"))
    assert not _same_origin(URL("https://api.test/a"), URL("http://api.test/b"))  # off TLS
    assert not _same_origin(here, URL("http://api.test:8080/b"))
    assert not _same_origin(here, URL("ftp://api.test/b"))


async def test_a_redirect_loop_ends(backend: str) -> None:
    ok, _, _, error = await run(f"{backend}/loop")
    assert not ok and error == "too many redirects"


@pytest.mark.parametrize("path", ["/area/../ok", "/area/%2E%2E/ok", "/./ok"])
async def test_a_path_that_climbs_is_not_requested(backend: str, path: str) -> None:
    """``{{ r.area | urlencode }}`` leaves "." and "/": a backend's "../../ok" in a path
    segment reached another endpoint (the client resolves it before sending)."""
    ok, status, _, error = await run(backend + path)
    assert (ok, status, error) == (False, 0, "the URL's path has a '..' or '.' segment")
    assert (await run(f"{backend}/ok?next=../x"))[0]  # in the query it is only text


async def test_more_requests_at_once_than_aiohttp_s_default_pool(backend: str) -> None:
    """120 calls waiting on one slow backend at once: with aiohttp's default pool of
    100 connections the last 20 waited for one and timed out."""
    async with httpnode.client() as client:
        started = asyncio.get_running_loop().time()
        done = await asyncio.gather(
            *(perform(client, HttpRequest(n, "GET", f"{backend}/slow?s=0.7", None, 1.2))
              for n in range(120))
        )
        took = asyncio.get_running_loop().time() - started
    assert [d.error for d in done if not d.ok] == [], took


async def test_a_node_s_headers_are_sent(backend: str) -> None:
    headers = {"Authorization": "Bearer s3cr3t"}
    async with httpnode.client() as client:
        done = await perform(client, HttpRequest(1, "GET", f"{backend}/ok", None, 1.0, headers))
    assert done.ok and done.data == {"echo": {}, "method": "GET", "authorization": "Bearer s3cr3t"}
