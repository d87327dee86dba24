"""The one place HTTP happens: URLs, auth, timeouts, retries and error mapping.

Pure pieces only: settings, the token, building a request, mapping a response or an
httpx failure to the exception tree. The retry policy is a flow (`_flow.exchange`),
run by the one sync and the one async driver.
"""

from __future__ import annotations

import logging
import random
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import httpx

from ._exceptions import (
    APIConnectionError,
    APIResponseError,
    APITimeoutError,
    InvokeAIError,
    ValidationError,
    status_error_class,
)

__all__ = [
    "DEFAULT_OUTAGE_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "ClientOptions",
    "Credentials",
    "check_response",
    "segment",
]

log = logging.getLogger("invokeai_py_client")

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
DEFAULT_OUTAGE_TIMEOUT = 300.0
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_RETRY_AFTER = 60.0


@dataclass
class Credentials:
    """The bearer token, kept out of every repr, log line and exception."""

    token: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __repr__(self) -> str:
        return f"Credentials(token={'***' if self.token else None})"

    revoked: bool = field(default=False, repr=False)
    """A token was dropped since the last request (its cookies must go too)."""

    def set(self, token: str | None) -> None:
        with self.lock:
            self.revoked = self.revoked or (token is None and self.token is not None)
            self.token = token

    def take_revoked(self) -> bool:
        with self.lock:
            revoked, self.revoked = self.revoked, False
            return revoked


@dataclass(frozen=True)
class ClientOptions:
    """Connection settings shared by the sync and async clients."""

    base_url: str
    timeout: httpx.Timeout = field(default_factory=lambda: DEFAULT_TIMEOUT)
    max_retries: int = 2
    verify: bool | str = True
    headers: Mapping[str, str] = field(default_factory=dict)
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    outage_timeout: float | None = DEFAULT_OUTAGE_TIMEOUT
    """Seconds a wait rides out an unreachable server before its job fails (None: for good)."""

    def __repr__(self) -> str:
        headers = {k: "***" if k.lower() in SENSITIVE_HEADERS else v for k, v in self.headers.items()}
        return (
            f"ClientOptions(base_url={redact_url(self.base_url)!r}, timeout={self.timeout!r}, "
            f"max_retries={self.max_retries}, verify={self.verify!r}, headers={headers!r})"
        )

    @property
    def prefix(self) -> str:
        """The reverse-proxy sub-path of the base URL ('' or '/invoke')."""
        return urlsplit(self.base_url).path.rstrip("/")

    def http_settings(self) -> dict[str, Any]:
        """Keyword arguments for the `httpx.Client`/`AsyncClient` behind a runner."""
        return {"timeout": self.timeout, "verify": self.verify, "follow_redirects": True}

    @property
    def basic_auth(self) -> httpx.BasicAuth | None:
        """The ``user:password@`` of the base URL (e.g. for a proxy), sent as basic auth."""
        parts = urlsplit(self.base_url)
        if parts.username is None:
            return None
        return httpx.BasicAuth(unquote(parts.username), unquote(parts.password or ""))

    @property
    def origin(self) -> str:
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"

    def url(self, path: str) -> str:
        """The absolute URL of an API path.

        Paths starting with `/api/`, `/ws/` or `/openapi.json` are taken as they are;
        any other path is relative to `/api/v1` (as in `request("GET", "/boards/")`).
        """
        if path.startswith(("http://", "https://")):
            return path
        if not path.startswith("/"):
            path = "/" + path
        if not path.startswith(("/api/", "/ws/", "/openapi.json")):
            path = "/api/v1" + path
        return self.origin + self.prefix + path


def normalize_base_url(url: str) -> str:
    """`localhost:9090` -> `http://localhost:9090`; strips a trailing slash and `/api/v1`."""
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError as exc:
        raise ValidationError(f"not an http(s) URL: {redact_url(url)!r} ({exc})") from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise ValidationError(f"not an http(s) URL: {redact_url(url)!r}")
    path = parts.path.rstrip("/")
    for suffix in ("/api/v1", "/api/v2", "/api"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    return f"{parts.scheme}://{parts.netloc}{path}"


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Seconds from a `Retry-After` header (delta or HTTP date), capped; None if absent."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        import datetime as _dt

        seconds = (when - _dt.datetime.now(when.tzinfo or _dt.UTC)).total_seconds()
    return max(0.0, min(seconds, MAX_RETRY_AFTER))


def backoff_seconds(attempt: int, base: float, cap: float) -> float:
    """Full-jitter exponential backoff for retry number `attempt` (0-based)."""
    return random.uniform(0, min(cap, base * (2**attempt)))


def safe_url(request: httpx.Request) -> str:
    """The request's URL for messages and logs: no query, no user or password."""
    return redact_url(str(request.url.copy_with(query=None)))


def redact_url(url: str) -> str:
    """`url` with any ``user:password@`` shown as ``***@``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    return f"{scheme}://{authority}{slash}{path}"


SENSITIVE_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "x-api-key", "api-key"})

# httpcore's DEBUG trace prints raw response headers (a multi-user server's
# X-Refreshed-Token, the Set-Cookie of its media cookie): their values, and anything
# shaped like a JWT, are blanked before any handler sees the line.
_SECRET_HEADER_VALUE = re.compile(
    r"""(\(b?['"](?:x-refreshed-token|set-cookie|cookie|authorization|proxy-authorization)['"],\s*)b?(['"]).*?\2\)""",
    re.IGNORECASE,
)
_JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*")
LOGGERS_REDACTED = (
    "httpx", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy", "httpcore.socks",
)


class RedactSecrets(logging.Filter):
    """Blanks tokens in the log records of the HTTP libraries (installed on their loggers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _JWT.sub("***", _SECRET_HEADER_VALUE.sub(r"\1'***')", message))
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def install_log_redaction() -> None:
    """Put `RedactSecrets` on httpx's and httpcore's loggers (once; a logger's filter sees
    only the records made on that very logger, so each one gets it)."""
    for name in LOGGERS_REDACTED:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())


install_log_redaction()


def wrap_transport_error(exc: Exception, request: httpx.Request) -> InvokeAIError:
    if isinstance(exc, InvokeAIError):
        return exc
    where = f"{request.method} {safe_url(request)}"
    if isinstance(exc, httpx.TimeoutException):
        err: InvokeAIError = APITimeoutError(f"{where} timed out ({type(exc).__name__})", request=request)
    elif isinstance(exc, httpx.HTTPError):
        err = APIConnectionError(f"{where} failed: {type(exc).__name__}: {exc}", request=request)
    else:
        err = APIConnectionError(f"{where} failed: {type(exc).__name__}: {exc}", request=request)
    err.__cause__ = exc
    return err


def check_response(response: httpx.Response, *, expect_json: bool = True) -> httpx.Response:
    """Raise the typed error for an error status or a non-API answer; else return it."""
    request = response.request
    where = f"{request.method} {safe_url(request)}"
    ctype = response.headers.get("content-type", "")
    if response.status_code >= 400:
        body: Any = None
        try:
            body = response.json() if "json" in ctype else response.text[:2000]
        except ValueError:
            body = response.text[:2000]
        detail = body.get("detail") if isinstance(body, dict) else body
        cls = status_error_class(response.status_code)
        raise cls(f"{where} -> {response.status_code}: {_brief(detail)}", response=response, body=body)
    if expect_json and response.status_code != 204 and "json" not in ctype:
        # Unknown routes answer 200 with the web UI's index.html.
        raise APIResponseError(
            f"{where} answered {response.status_code} {ctype or 'without a content type'}, "
            "not JSON: the route does not exist on this server (or a proxy answered)",
            response=response,
        )
    return response


def _brief(detail: Any, limit: int = 600) -> str:
    text = detail if isinstance(detail, str) else repr(detail)
    return text if len(text) <= limit else text[:limit] + "..."


def segment(value: object, what: str) -> str:
    """`value` as ONE percent-encoded URL path segment (an image name, a board id, ...).

    Names go into paths as data, never as path syntax: `/` is encoded, and the empty
    name, `.` and `..` are refused (a server or proxy would resolve them).
    """
    text = str(value)
    if text in ("", ".", "..") or len(text) > 4096:
        shown = text if len(text) <= 80 else text[:80] + "..."
        raise ValidationError(f"{what} {shown!r} cannot name a server resource")
    return quote(text, safe="")
