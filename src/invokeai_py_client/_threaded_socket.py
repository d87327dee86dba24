"""The sync client's Socket.IO connection: the protocol's client side over websocket-client.

InvokeAI's event socket is Socket.IO 5 on Engine.IO 4, websocket transport only (its
polling transport answers 500). The client side of that is small: open a websocket,
read the server's open packet, connect the default namespace (with the token), answer
pings, read events, send events that want an acknowledgement. Doing it here instead of
through python-socketio's threaded client spares every client process the import of
python-socketio (which brings its servers, asyncio client and aiohttp: ~150 ms of CPU)
and a new thread per received message (engine.io runs each handler on its own thread,
so events could even be handled out of order). Here one thread reads the socket, runs
the handlers in the order the events arrived and reconnects after a transport failure.

The surface is the part of `socketio.Client` the hub uses (`on`, `connect`, `call`,
`disconnect`, `connected`), so the hub drives the sync and async sockets with the same
steps; the disconnect reasons are python-socketio's.
"""

from __future__ import annotations

import itertools
import json
import logging
import random
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import websocket

log = logging.getLogger("invokeai_py_client.events")

CLIENT_DISCONNECT = "client disconnect"
SERVER_DISCONNECT = "server disconnect"
TRANSPORT_ERROR = "transport error"
TRANSPORT_CLOSE = "transport close"
"""Why a connection ended, as python-socketio names it; only the transport's own end is
followed by a reconnect (the server's disconnect is final, as is ours)."""

Handler = Callable[..., Any]


# --- the packets (pure) ------------------------------------------------------------

OPEN, CLOSE, PING, PONG, MESSAGE = "0", "1", "2", "3", "4"
"""Engine.IO packet types: the first character of a text frame."""
CONNECT, DISCONNECT, EVENT, ACK, CONNECT_ERROR = "0", "1", "2", "3", "4"
"""Socket.IO packet types: the character after Engine.IO's MESSAGE."""


@dataclass(frozen=True)
class Packet:
    """A Socket.IO packet of the default namespace, as far as the client needs it."""

    kind: str
    """One of the Socket.IO packet types above."""
    ack_id: int | None = None
    payload: str = ""
    """The JSON after the type and ack id, still text: decoded only when wanted."""

    @property
    def event_name(self) -> str | None:
        """An event's name, read without decoding its data (None when it is not plain)."""
        if self.kind != EVENT or not self.payload.startswith('["'):
            return None
        end = self.payload.find('"', 2)
        name = self.payload[2:end] if end > 0 else ""
        return name if name and "\\" not in name else None


def parse_message(frame: str) -> Packet:
    """The Socket.IO packet in an Engine.IO MESSAGE frame ("4" already checked); ValueError
    when it is not one of the default namespace."""
    kind, rest = frame[1:2], frame[2:]
    if rest.startswith("/"):  # another namespace: InvokeAI uses only the default one
        raise ValueError(f"packet for namespace {rest.split(',', 1)[0]!r}")
    digits = len(rest) - len(rest.lstrip("0123456789"))
    ack_id = int(rest[:digits]) if digits else None
    return Packet(kind, ack_id, rest[digits:])


def event_frame(name: str, data: Any, ack_id: int | None = None) -> str:
    return MESSAGE + EVENT + ("" if ack_id is None else str(ack_id)) + json.dumps([name, data])


def connect_frame(auth: dict[str, Any] | None) -> str:
    return MESSAGE + CONNECT + (json.dumps(auth) if auth else "")


# --- the connection ----------------------------------------------------------------


@dataclass
class _Ack:
    done: threading.Event = field(default_factory=threading.Event)
    answer: Any = None
    error: BaseException | None = None


class ThreadedSocketIO:
    """A Socket.IO client whose handlers run, in order, on the one thread that reads it.

    `wants(name)` (when given) is asked for each event before its data is decoded;
    events it declines are dropped unread. A transport failure is followed by
    reconnects (`reconnection_delay` doubling to `reconnection_delay_max`, with jitter)
    until one succeeds or `disconnect()` is called; each reconnect presents `auth`
    afresh and runs the "connect" handler again.
    """

    def __init__(
        self,
        *,
        ssl_verify: bool | str = True,
        reconnection_delay: float = 0.5,
        reconnection_delay_max: float = 5.0,
        wants: Callable[[str], bool] | None = None,
    ) -> None:
        self.sslopt: dict[str, Any] = {}
        if ssl_verify is False:
            self.sslopt["cert_reqs"] = ssl.CERT_NONE
        elif isinstance(ssl_verify, str):  # a CA bundle, as the HTTP client was given
            self.sslopt["ca_certs"] = ssl_verify
        self.reconnection_delay = reconnection_delay
        self.reconnection_delay_max = reconnection_delay_max
        self.wants = wants
        self.connected = False
        self._handlers: dict[str, Handler] = {}
        self._url = ""
        self._auth: Any = None
        self._headers: dict[str, str] = {}
        self._open_timeout = 5.0
        self._ws: websocket.WebSocket | None = None
        self._reader: threading.Thread | None = None
        self._stop = threading.Event()
        self._ack_ids = itertools.count(1)
        self._acks: dict[int, _Ack] = {}
        self._acks_lock = threading.Lock()

    def on(self, name: str, handler: Handler) -> None:
        """Run `handler` on "connect", "disconnect" (with the reason) or, for "*", every
        event (with its name and data)."""
        self._handlers[name] = handler

    def connect(
        self,
        origin: str,
        *,
        socketio_path: str,
        transports: Any = None,
        auth: Any = None,
        headers: dict[str, str] | None = None,
        wait_timeout: float = 5.0,
    ) -> None:
        """Open the connection (ConnectionError when it cannot be), run the "connect"
        handler and start reading. `auth` may be a callable, called at every (re)connect;
        `transports` is accepted for python-socketio's signature: only websocket exists."""
        scheme, rest = origin.split("://", 1)
        ws_scheme = "wss" if scheme == "https" else "ws"
        self._url = f"{ws_scheme}://{rest.rstrip('/')}/{socketio_path.strip('/')}/?EIO=4&transport=websocket"
        self._auth, self._headers, self._open_timeout = auth, dict(headers or {}), wait_timeout
        self._stop.clear()
        ws = self._open()
        self._connected(ws)
        self._reader = threading.Thread(target=self._read_loop, args=(ws,), name="invokeai-socket", daemon=True)
        self._reader.start()

    def call(self, name: str, data: Any, timeout: float = 60.0) -> Any:
        """Send an event and wait for the server's acknowledgement; its answer."""
        ack_id = next(self._ack_ids)
        ack = _Ack()
        with self._acks_lock:
            self._acks[ack_id] = ack
        try:
            self._send(event_frame(name, data, ack_id))
            if not ack.done.wait(timeout):
                raise TimeoutError(f"no acknowledgement of {name!r} within {timeout} s")
        finally:
            with self._acks_lock:
                self._acks.pop(ack_id, None)
        if ack.error is not None:
            raise ack.error
        return ack.answer

    def emit(self, name: str, data: Any) -> None:
        """Send an event without waiting for anything."""
        self._send(event_frame(name, data))

    def disconnect(self) -> None:
        """Leave the namespace, close the connection, stop reconnecting, and wait for the
        reading thread to end (unless called from it)."""
        self._stop.set()
        ws = self._ws
        if ws is not None:
            for leave in (lambda: ws.send(MESSAGE + DISCONNECT), lambda: _drop(ws, keep_open=True)):
                try:
                    leave()
                except Exception:
                    log.debug("socket close step raised", exc_info=True)
        reader = self._reader
        if reader is not None and reader is not threading.current_thread():
            reader.join(timeout=10)
        if ws is None:
            self.connected = False

    # --- inside ---

    def _open(self) -> websocket.WebSocket:
        """A websocket with the default namespace connected (Engine.IO open, Socket.IO connect)."""
        try:
            ws = websocket.create_connection(
                self._url, timeout=self._open_timeout, header=self._headers, sslopt=self.sslopt,
                enable_multithread=True,
                # websocket-client would check each text frame's UTF-8 in pure Python (~2 ms
                # per progress event with a preview image); decoding the frame checks it anyway.
                skip_utf8_validation=True,
            )
        except (OSError, websocket.WebSocketException) as exc:
            raise ConnectionError(f"event socket: {type(exc).__name__}: {exc}") from exc
        try:
            opened = ws.recv()
            if not isinstance(opened, str) or not opened.startswith(OPEN):
                raise ConnectionError(f"event socket: no open packet (got {str(opened)[:40]!r})")
            timing = json.loads(opened[1:])
            auth = self._auth() if callable(self._auth) else self._auth
            ws.send(connect_frame(auth))
            while True:
                frame = ws.recv()
                if frame == PING:
                    ws.send(PONG)
                elif isinstance(frame, str) and frame.startswith(MESSAGE + CONNECT):
                    break
                elif isinstance(frame, str) and frame.startswith(MESSAGE + CONNECT_ERROR):
                    raise ConnectionError(f"event socket refused: {frame[2:][:200]}")
                elif not frame:
                    raise ConnectionError("event socket closed during the handshake")
            # Silence longer than a ping period and its grace means the connection is gone.
            ws.settimeout((timing["pingInterval"] + timing["pingTimeout"]) / 1000)
        except BaseException as exc:
            _drop(ws)
            if isinstance(exc, (OSError, websocket.WebSocketException, ValueError, KeyError)):
                raise ConnectionError(f"event socket handshake: {type(exc).__name__}: {exc}") from exc
            raise
        return ws

    def _connected(self, ws: websocket.WebSocket) -> None:
        self._ws = ws
        self.connected = True
        self._trigger("connect")

    def _read_loop(self, ws: websocket.WebSocket) -> None:
        while True:
            reason = self._read(ws)
            _drop(ws)
            self.connected = False
            self._fail_acks(ConnectionError(f"event socket closed ({reason})"))
            self._trigger("disconnect", reason)
            if reason in (SERVER_DISCONNECT, CLIENT_DISCONNECT):
                return
            reopened = self._reconnect()
            if reopened is None:
                return
            ws = reopened
            self._connected(ws)

    def _read(self, ws: websocket.WebSocket) -> str:
        """Read until the connection ends; why it ended."""
        while True:
            try:
                frame = ws.recv()
                if frame == PING:
                    ws.send(PONG)
                    continue
            except (OSError, websocket.WebSocketException) as exc:
                if self._stop.is_set():
                    return CLIENT_DISCONNECT
                log.info("event socket lost (%s: %s)", type(exc).__name__, exc)
                return TRANSPORT_ERROR
            if self._stop.is_set():
                return CLIENT_DISCONNECT
            if not isinstance(frame, str) or not frame:
                if not ws.connected:
                    return TRANSPORT_CLOSE
                continue  # binary frames: InvokeAI sends none
            if frame[0] == CLOSE:
                return TRANSPORT_CLOSE
            if frame[0] == MESSAGE and len(frame) > 1:
                try:
                    kind = self._message(frame)
                except ValueError:  # a malformed packet is dropped, the connection kept
                    log.warning("event socket: malformed packet %.80r dropped", frame)
                    continue
                if kind == DISCONNECT:
                    return SERVER_DISCONNECT

    def _message(self, frame: str) -> str:
        packet = parse_message(frame)
        if packet.kind == EVENT:
            name = packet.event_name
            if name is not None and self.wants is not None and not self.wants(name):
                return packet.kind  # nobody listens: not decoded
            event = json.loads(packet.payload)
            if isinstance(event, list) and event and isinstance(event[0], str):
                self._trigger("*", event[0], event[1] if len(event) > 1 else None)
        elif packet.kind == ACK and packet.ack_id is not None:
            with self._acks_lock:
                ack = self._acks.get(packet.ack_id)
            if ack is not None:
                answer = json.loads(packet.payload or "[]")
                if not isinstance(answer, list):
                    raise ValueError("an acknowledgement carries a list")
                ack.answer = answer[0] if len(answer) == 1 else tuple(answer)
                ack.done.set()
        return packet.kind

    def _reconnect(self) -> websocket.WebSocket | None:
        delay = self.reconnection_delay
        while not self._stop.wait(delay * random.uniform(0.5, 1.5)):
            try:
                ws = self._open()
            except Exception as exc:  # noqa: BLE001 - keep trying until told to stop
                log.debug("event socket reconnect failed (%s)", exc)
                delay = min(delay * 2, self.reconnection_delay_max)
                continue
            if self._stop.is_set():  # disconnect() came while this one was opening
                _drop(ws)
                return None
            log.info("event socket reconnected")
            return ws
        return None

    def _send(self, frame: str) -> None:
        ws = self._ws
        if ws is None or not self.connected:
            raise ConnectionError("event socket not connected")
        try:
            ws.send(frame)
        except (OSError, websocket.WebSocketException) as exc:
            raise ConnectionError(f"event socket send failed: {exc}") from exc

    def _fail_acks(self, error: BaseException) -> None:
        with self._acks_lock:
            pending, self._acks = list(self._acks.values()), {}
        for ack in pending:
            ack.error = error
            ack.done.set()

    def _trigger(self, name: str, *args: Any) -> None:
        handler = self._handlers.get(name)
        if handler is None:
            return
        try:
            handler(*args)
        except Exception:  # a handler's bug must not end the connection
            log.exception("event socket %r handler raised", name)


def _drop(ws: websocket.WebSocket, *, keep_open: bool = False) -> None:
    """End a websocket at once, without the closing handshake: a thread blocked reading it
    wakes with an error. `keep_open` leaves closing the file to that thread."""
    ws.abort()  # type: ignore[no-untyped-call]
    if not keep_open:
        ws.shutdown()  # type: ignore[no-untyped-call]
