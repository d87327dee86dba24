"""1.1.1's client constructor arguments and `_make_request` answer."""

from __future__ import annotations

from typing import Any

import httpx

from .._exceptions import ValidationError

__all__ = ["LegacyResponse", "legacy_base_url"]


def legacy_base_url(
    base_url: str | None, host: str | None, port: int | None, use_https: bool | None, base_path: str | None
) -> str | None:
    """The URL 1.1.1's `InvokeAIClient(host=, port=, use_https=, base_path=)` meant."""
    if host is None and port is None and use_https is None and base_path is None:
        return base_url
    if base_url is not None:
        raise ValidationError("give either base_url or host/port/use_https/base_path, not both")
    scheme = "https" if use_https else "http"
    port = 9090 if port is None else port
    return f"{scheme}://{host or 'localhost'}:{int(port)}{base_path or ''}"


class LegacyResponse:
    """The answer of `_make_request`: an `httpx.Response` that also has requests' `.ok`.

    Errors are raised before one is returned (as `APIStatusError` subclasses), so
    `ok` is always True and `raise_for_status()` never raises.
    """

    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def ok(self) -> bool:
        return self._response.is_success

    def __getattr__(self, name: str) -> Any:
        return getattr(self._response, name)

    def __repr__(self) -> str:
        return f"<LegacyResponse [{self._response.status_code}]>"
