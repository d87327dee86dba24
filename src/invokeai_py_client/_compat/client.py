"""1.1.1's client constructor arguments and `_make_request` answer."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator
from typing import Any

import httpx

from .._exceptions import ValidationError

__all__ = ["ClientCompat", "LegacyResponse", "legacy_base_url"]


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


class ClientCompat:
    """1.1.1's raw event socket: `connect_socketio`, `disconnect_socketio`, `socketio_session`.

    Ours follow jobs without it (`Job.events()`, `wait(on_event=...)`); this is for
    scripts that handle Socket.IO events themselves.
    """

    _legacy_sio: Any = None

    async def connect_socketio(self) -> Any:
        """A `socketio.AsyncClient` connected to the server's event socket (kept until disconnected)."""
        if self._legacy_sio is not None and self._legacy_sio.connected:
            return self._legacy_sio
        import socketio

        options = self.options  # type: ignore[attr-defined]
        token = self.credentials.token  # type: ignore[attr-defined]
        tls: dict[str, Any] = {"ssl_verify": options.verify is not False}
        if isinstance(options.verify, str):
            tls["websocket_extra_options"] = {"ssl": ssl.create_default_context(cafile=options.verify)}
        sio = socketio.AsyncClient(**tls)
        await sio.connect(
            options.origin, socketio_path=f"{options.prefix}/ws/socket.io".lstrip("/"),
            transports=["websocket", "polling"], auth={"token": token} if token else None,
            headers=dict(options.headers),
        )
        self._legacy_sio = sio
        return sio

    async def disconnect_socketio(self) -> None:
        sio, self._legacy_sio = self._legacy_sio, None
        if sio is not None:
            await sio.disconnect()

    @contextlib.asynccontextmanager
    async def socketio_session(self) -> AsyncIterator[Any]:
        """``async with client.socketio_session() as sio:`` a connected socket, closed on exit."""
        sio = await self.connect_socketio()
        try:
            yield sio
        finally:
            await self.disconnect_socketio()
