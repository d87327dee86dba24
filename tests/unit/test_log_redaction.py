"""Tokens never reach a log handler, not even through httpcore's own DEBUG trace.

A multi-user InvokeAI renews the token in `X-Refreshed-Token` and sets it as a media
cookie (`Set-Cookie`); httpcore at DEBUG prints every response header raw. A small
local HTTP server answers with both, and every record that reached the handler is
searched for the token.
"""

from __future__ import annotations

import http.server
import logging
import threading
from collections.abc import Iterator

import pytest

from invokeai_py_client import InvokeAIClient
from invokeai_py_client._transport import LOGGERS_REDACTED, RedactSecrets

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoiYWxpY2UiLCJleHAiOjQxMDI0NDQ4MDB9.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"
OPAQUE = "opaque-session-secret-4711"  # not JWT-shaped: only the header name gives it away


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"version": "6.14.2"}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.send_header("x-refreshed-token", TOKEN)
        self.send_header("set-cookie", f"invokeai_media={OPAQUE}; HttpOnly; Path=/")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


@pytest.fixture
def server_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_httpcore_debug_lines_carry_no_token(server_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=name)
    with InvokeAIClient(server_url, use_events=False, token=TOKEN) as client:
        assert client.server_version() == "6.14.2"
        assert client.credentials.token == TOKEN  # the renewal was read, only the log is blanked
    headers_lines = [r.getMessage() for r in caplog.records if "receive_response_headers.complete" in r.getMessage()]
    assert headers_lines, "httpcore logged no response headers: the test proves nothing"
    assert all("x-refreshed-token" in line and "***" in line for line in headers_lines)
    for record in caplog.records:
        assert TOKEN not in record.getMessage()
        assert OPAQUE not in record.getMessage()


@pytest.mark.parametrize(
    "message",
    [
        f"receive_response_headers.complete return_value=(b'HTTP/1.1', 200, b'OK', [(b'x-refreshed-token', b'{TOKEN}')])",
        f"[(b'set-cookie', b'invokeai_media={OPAQUE}; HttpOnly'), (b'content-length', b'2')]",
        f"[(b'Authorization', b'Bearer {OPAQUE}')]",
        f"a token in prose: {TOKEN} and after",
    ],
)
def test_the_filter_blanks_header_values_and_jwts(message: str) -> None:
    record = logging.LogRecord("httpcore.http11", logging.DEBUG, __file__, 1, "%s", (message,), None)
    assert RedactSecrets().filter(record) is True  # blanked, never dropped
    text = record.getMessage()
    assert TOKEN not in text and OPAQUE not in text and "***" in text


def test_every_http_logger_has_the_filter_once() -> None:
    import invokeai_py_client._transport as transport

    transport.install_log_redaction()  # again: not a second copy
    for name in LOGGERS_REDACTED:
        assert sum(isinstance(f, RedactSecrets) for f in logging.getLogger(name).filters) == 1
