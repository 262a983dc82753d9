"""The sandbox's small router: path variables, 404 and 405, and the headers every page carries."""

from __future__ import annotations

from toko.sandbox.asgi import Request, Response, Route, Router


async def _echo(request: Request) -> Response:
    return Response.json(
        {"method": request.method, "params": dict(request.params), "query": dict(request.query)}
    )


ROUTER = Router(
    [
        Route("GET", "/things", _echo),
        Route("DELETE", "/things", _echo),
        Route("GET", "/things/{id}", _echo),
    ]
)


async def test_a_path_variable_binds_one_segment() -> None:
    response = await ROUTER.respond(Request("GET", "/things/42", {"to": "x"}))

    assert response.status == 200
    assert response.body == b'{"method":"GET","params":{"id":"42"},"query":{"to":"x"}}'


async def test_an_unknown_path_is_404_and_a_known_path_with_another_method_is_405() -> None:
    missing = await ROUTER.respond(Request("GET", "/things/42/more", {}))
    wrong_method = await ROUTER.respond(Request("POST", "/things", {}))

    assert missing.status == 404
    assert wrong_method.status == 405
    assert ("allow", "GET, DELETE") in wrong_method.headers


def test_pages_may_run_no_script_and_may_not_be_framed() -> None:
    headers = dict(Response.html("<p>hi</p>").raw_headers())

    policy = headers[b"content-security-policy"].decode()
    assert "default-src 'none'" in policy
    assert "script-src" not in policy
    assert "frame-ancestors 'none'" in policy
    assert headers[b"x-frame-options"] == b"DENY"
    assert b"content-security-policy" not in dict(Response.json({}).raw_headers())
