"""A loopback fault-injection proxy between a client under test and a real InvokeAI server.

It reads each HTTP/1.1 request whole (head and body), forwards it, reads the server's
answer whole and relays it, so a fault can be placed exactly: before the server sees a
request, or after the server has processed it. Faults are given per route (method and a
path regex), for a number of requests or for good:

- ``status``: answer 5xx without forwarding (the server never sees the request);
- ``status_after``: forward, let the server answer, then answer 5xx instead;
- ``cut_before``: close the client's connection without forwarding;
- ``cut_mid_request``: forward part of the request, then close both sides;
- ``cut_after``: forward, let the server answer, close without relaying;
- ``cut_mid_response``: relay the head and half the body, then close;
- ``delay``: wait ``seconds`` before forwarding.

Beside those, `latency` delays every HTTP request, `cut_sockets()` closes the Socket.IO
websockets (path ``/ws/socket.io``) and nothing else, and `refuse()` / `accept()` stop
and restart listening on the same port (new connections are refused; open ones are cut).

It counts what passed: requests forwarded to the server per route (ids folded), faults
injected per kind, websockets opened and cut. Standard library only; its event loop
runs on a daemon thread, and every method may be called from any thread::

    with FaultProxy("http://127.0.0.1:9090") as proxy:
        proxy.inject("POST", r".*/enqueue_batch", "cut_after")
        client = InvokeAIClient(proxy.url)
        ...
        proxy.forwarded_count("POST", r".*/enqueue_batch")
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

__all__ = ["Fault", "FaultKind", "FaultProxy", "route_of"]

T = TypeVar("T")

FaultKind = Literal[
    "status", "status_after", "cut_before", "cut_mid_request", "cut_after", "cut_mid_response", "delay"
]
KINDS: frozenset[str] = frozenset(FaultKind.__args__)  # type: ignore[attr-defined]

_ID = re.compile(
    r"^(\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[^/]+\.(png|jpg|jpeg|webp))$",
    re.IGNORECASE,
)
_MAX_HEAD = 1 << 16
_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


def route_of(method: str, target: str) -> str:
    """``GET /api/v1/queue/default/i/{id}`` for ``GET /api/v1/queue/default/i/4711?x=1``."""
    path = urlsplit(target).path or "/"
    return method + " " + "/".join("{id}" if _ID.match(part) else part for part in path.split("/"))


@dataclass
class Fault:
    """One fault for requests whose method and path match; `times` None: for good."""

    method: str
    path: str
    """A regular expression the whole request path (without the query) must match."""
    kind: FaultKind
    status: int = 502
    seconds: float = 0.0
    times: int | None = 1
    hits: int = 0
    """How many requests it was applied to."""

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        return self.method in ("*", method) and re.fullmatch(self.path, path) is not None


class _Cut(Exception):
    """Close the client's connection now (a fault, or the server went away)."""


@dataclass
class _Message:
    head: bytes
    body: bytes
    start_line: str
    headers: dict[str, str]
    close: bool = False
    """The sender closes the connection after it (no length given, or `Connection: close`)."""


async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise _Cut from exc
        return None  # closed between messages
    except asyncio.LimitOverrunError as exc:
        raise _Cut from exc


def _parse_head(head: bytes) -> tuple[str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return lines[0], headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str], *, until_eof: bool) -> bytes:
    """The body as it was framed (chunked bodies keep their chunk lines)."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        out = bytearray()
        while True:
            line = await reader.readuntil(b"\r\n")
            out += line
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while (trailer := await reader.readuntil(b"\r\n")) != b"\r\n":
                    out += trailer
                out += b"\r\n"
                return bytes(out)
            out += await reader.readexactly(size + 2)
    if "content-length" in headers:
        return await reader.readexactly(int(headers["content-length"]))
    return await reader.read() if until_eof else b""


async def _read_message(reader: asyncio.StreamReader, *, response_to: str | None = None) -> _Message | None:
    head = await _read_head(reader)
    if head is None:
        return None
    start, headers = _parse_head(head)
    closes = "close" in headers.get("connection", "").lower()
    if response_to is not None:
        status = int(start.split(" ")[1])
        if response_to == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return _Message(head, b"", start, headers, closes)
        framed = "content-length" in headers or "chunked" in headers.get("transfer-encoding", "").lower()
        body = await _read_body(reader, headers, until_eof=True)
        return _Message(head, body, start, headers, closes or not framed)
    return _Message(head, await _read_body(reader, headers, until_eof=False), start, headers, closes)


def _status_response(status: int, why: str) -> bytes:
    body = f"fault proxy: {why}\n".encode()
    return (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\ncontent-type: text/plain\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode() + body


class FaultProxy:
    """A proxy on 127.0.0.1 to one server, injecting faults (see the module doc)."""

    def __init__(self, target_url: str, *, port: int = 0) -> None:
        parts = urlsplit(target_url)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.port = port
        self.latency = 0.0
        """Seconds added before every HTTP request is forwarded (not to websocket traffic)."""
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._forwarded: Counter[str] = Counter()
        self._injected: Counter[str] = Counter()
        self.websockets_opened = 0
        self.websockets_cut = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._websockets: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._stopping = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- life cycle ------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            loop.call_soon(ready.set)
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=serve, name="fault-proxy", daemon=True)
        self._thread.start()
        ready.wait()
        self.accept()
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        self._stopping = True
        self._call(self._shut(listen=False, cut=True))
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._loop = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        assert self._loop is not None, "the proxy is not running"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    def accept(self) -> None:
        """Listen (again) on the proxy's port."""

        async def listen() -> None:
            if self._server is None:
                self._server = await asyncio.start_server(
                    self._handle, "127.0.0.1", self.port, reuse_address=True, limit=_MAX_HEAD
                )
                self.port = self._server.sockets[0].getsockname()[1]

        self._call(listen())

    def refuse(self) -> None:
        """Stop listening (connections are refused) and cut every open connection."""
        self._call(self._shut(listen=False, cut=True))

    def cut_sockets(self) -> int:
        """Close every Socket.IO websocket now (both sides); answers how many were open."""

        async def cut() -> int:
            pairs = list(self._websockets)
            for pair in pairs:
                for writer in pair:
                    writer.transport.abort()
            return len(pairs)

        count = self._call(cut())
        with self._lock:
            self.websockets_cut += count
        return count

    async def _shut(self, *, listen: bool, cut: bool) -> None:
        if not listen and self._server is not None:
            self._server.close()
            self._server = None
        if cut:
            for writer in list(self._writers):
                writer.transport.abort()
        await asyncio.sleep(0)
        if not listen and cut and self._stopping:
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

    # --- faults and counts -----------------------------------------------------------------

    def inject(
        self, method: str, path: str, kind: FaultKind, *, times: int | None = 1, status: int = 502,
        seconds: float = 0.0,
    ) -> Fault:
        """Apply `kind` to the next `times` requests matching `method` ('*': any) and `path` (a regex)."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault {kind!r}")
        fault = Fault(method.upper() if method != "*" else "*", path, kind, status, seconds, times)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Remove every fault (latency stays as set)."""
        with self._lock:
            self._faults.clear()

    def _take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.hits += 1
                    self._injected[fault.kind] += 1
                    return fault
        return None

    @property
    def injected(self) -> dict[str, int]:
        """Faults applied so far, per kind."""
        with self._lock:
            return dict(self._injected)

    @property
    def forwarded(self) -> dict[str, int]:
        """Requests the server received whole, per route (ids folded to ``{id}``)."""
        with self._lock:
            return dict(self._forwarded)

    def forwarded_count(self, method: str, path: str) -> int:
        """Requests the server received whose route matches `method` and the regex `path`."""
        with self._lock:
            return sum(
                n for route, n in self._forwarded.items()
                if route.split(" ", 1)[0] == method.upper() and re.fullmatch(path, route.split(" ", 1)[1])
            )

    # --- one client connection -------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            while True:
                request = await _read_message(reader)
                if request is None:
                    return
                method, target = [*request.start_line.split(" "), "", ""][:2]
                path = urlsplit(target).path
                if request.headers.get("upgrade", "").lower() == "websocket":
                    await self._tunnel(request, reader, writer)
                    return
                if upstream is None:
                    upstream = await self._open_upstream()
                if not await self._exchange(request, method, target, path, writer, upstream):
                    return
        except (_Cut, ConnectionError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            return
        finally:
            self._writers.discard(writer)
            writer.transport.abort()
            if upstream is not None:
                self._writers.discard(upstream[1])
                upstream[1].transport.abort()

    async def _open_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target, limit=_MAX_HEAD)
        except OSError as exc:
            raise _Cut from exc  # the server is down: the client sees its connection closed
        self._writers.add(up_writer)
        return up_reader, up_writer

    async def _exchange(
        self, request: _Message, method: str, target: str, path: str, writer: asyncio.StreamWriter,
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    ) -> bool:
        """Forward one request and relay its answer, faults applied; False: close the connection."""
        fault = self._take(method, path)
        kind = fault.kind if fault is not None else None
        if self.latency:
            await asyncio.sleep(self.latency)
        if fault is not None and kind == "delay":
            await asyncio.sleep(fault.seconds)
        if fault is not None and kind == "status":
            writer.write(_status_response(fault.status, f"{fault.status} before {method} {path} was forwarded"))
            await writer.drain()
            return not request.close
        if kind == "cut_before":
            return False
        up_reader, up_writer = upstream
        if kind == "cut_mid_request":
            whole = request.head + request.body
            cut_at = len(request.head) + len(request.body) // 2 if request.body else len(whole) // 2
            up_writer.write(whole[:cut_at])
            await up_writer.drain()
            return False
        up_writer.write(request.head + request.body)
        await up_writer.drain()
        response = await _read_message(up_reader, response_to=method)
        if response is None:
            raise _Cut  # the server closed without answering
        with self._lock:
            self._forwarded[route_of(method, target)] += 1
        if fault is not None and kind == "status_after":
            writer.write(_status_response(fault.status, f"{fault.status} after the server answered {method} {path}"))
            await writer.drain()
            return not (request.close or response.close)
        if kind == "cut_after":
            return False
        if kind == "cut_mid_response":
            writer.write(response.head + response.body[: len(response.body) // 2])
            await writer.drain()
            return False
        writer.write(response.head + response.body)
        await writer.drain()
        return not (request.close or response.close)

    async def _tunnel(self, request: _Message, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A websocket: forward the upgrade, then bytes both ways until either side closes."""
        up_reader, up_writer = await self._open_upstream()
        pair = (writer, up_writer)
        with self._lock:
            self.websockets_opened += 1
        self._websockets.add(pair)
        up_writer.write(request.head + request.body)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(1 << 16):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        try:
            await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        finally:
            self._websockets.discard(pair)
            self._writers.discard(up_writer)
            up_writer.transport.abort()
