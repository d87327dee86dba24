"""A loopback HTTP + WebSocket proxy that counts what a client sends and receives.

Each client under test talks to the server through a proxy of its own, so every client's
requests and bytes are counted the same way, whatever HTTP library it uses:

- bytes each way per connection and in total, WebSocket traffic included (after an
  ``Upgrade`` request the connection is counted in bytes only);
- requests, by parsing the HTTP/1.x request heads the client sends (keep-alive and
  pipelining; Content-Length and chunked bodies are skipped), per method and route
  (numbers, uuids and image names in paths folded to ``{id}``).

Standard library only. From the command line it prints its counters when stopped::

    python benchmarks/proxy.py --target http://127.0.0.1:9090 --port 9099   # Ctrl-C prints counts

In code::

    with CountingProxy("127.0.0.1", 9090) as proxy:
        run_client(proxy.url)          # e.g. http://127.0.0.1:41873
        counts = proxy.snapshot()      # {"requests": ..., "bytes_received": ..., ...}
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import signal
import sys
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

_ID = re.compile(
    r"^(\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[^/]+\.(png|jpg|jpeg|webp))$",
    re.IGNORECASE,
)
_MAX_HEAD = 1 << 16


def route_of(method: str, target: str) -> str:
    """``GET /api/v1/queue/default/i/{id}`` for ``GET /api/v1/queue/default/i/4711?x=1``."""
    path = urlsplit(target).path or "/"
    return method + " " + "/".join("{id}" if _ID.match(part) else part for part in path.split("/"))


class RequestParser:
    """Finds the request heads in one connection's client -> server byte stream."""

    def __init__(self, on_request: Callable[[str, str, dict[str, str]], None]) -> None:
        self._on_request = on_request
        self._buffer = bytearray()
        self._state = "head"
        self._remaining = 0
        self.upgraded = False

    def feed(self, data: bytes) -> None:
        if self._state == "raw":
            return
        self._buffer += data
        while self._step():
            pass

    def _step(self) -> bool:
        """Consume one piece of the buffer; False when more bytes are needed."""
        buf = self._buffer
        if self._state == "head":
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > _MAX_HEAD:  # not HTTP after all: count bytes only
                    self._state = "raw"
                    buf.clear()
                return False
            lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
            del buf[: end + 4]
            method, target, *_ = [*lines[0].split(" "), "", ""]
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            self._on_request(method, target, headers)
            if headers.get("upgrade") and "upgrade" in headers.get("connection", "").lower():
                self.upgraded = True
                self._state = "raw"
                buf.clear()
                return False
            if "chunked" in headers.get("transfer-encoding", "").lower():
                self._state = "chunk-size"
            else:
                self._remaining = int(headers.get("content-length") or 0)
                self._state = "body" if self._remaining else "head"
            return True
        if self._state in ("body", "chunk-data"):
            take = min(self._remaining, len(buf))
            del buf[:take]
            self._remaining -= take
            if self._remaining:
                return False
            self._state = "head" if self._state == "body" else "chunk-size"
            return True
        end = buf.find(b"\r\n")
        if end < 0:
            return False
        line = bytes(buf[:end])
        del buf[: end + 2]
        if self._state == "chunk-size":
            size = int(line.split(b";")[0] or b"0", 16)
            self._state = "trailer" if size == 0 else "chunk-data"
            self._remaining = size + 2  # the data and its CRLF
        elif not line:  # the empty line after the trailers ends the request
            self._state = "head"
        return True


@dataclass
class ConnectionCount:
    """One client connection's traffic."""

    sent: int = 0
    """Bytes the client sent (requests, WebSocket frames)."""
    received: int = 0
    """Bytes the client received."""
    requests: int = 0
    websocket: bool = False


@dataclass
class _Counts:
    connections: list[ConnectionCount] = field(default_factory=list)
    routes: Counter[str] = field(default_factory=Counter)


class CountingProxy:
    """A TCP proxy on 127.0.0.1 to one target, counting requests and bytes (see module doc).

    Runs its own event loop on a daemon thread; `snapshot()` may be called from any thread.
    """

    def __init__(self, target_host: str, target_port: int, *, port: int = 0) -> None:
        self.target = (target_host, target_port)
        self.port = port
        self._counts = _Counts()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @classmethod
    def to_url(cls, url: str, *, port: int = 0) -> CountingProxy:
        parts = urlsplit(url)
        return cls(parts.hostname or "127.0.0.1", parts.port or (443 if parts.scheme == "https" else 80), port=port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> CountingProxy:
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self._server = loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", self.port))
                self.port = self._server.sockets[0].getsockname()[1]
            except OSError as exc:
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=serve, name="counting-proxy", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        loop, server = self._loop, self._server
        if loop is None or server is None:
            return

        async def shut() -> None:
            server.close()
            for writer in list(self._writers):
                writer.close()
            await asyncio.sleep(0)

        asyncio.run_coroutine_threadsafe(shut(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._loop = None

    def __enter__(self) -> CountingProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def snapshot(self) -> dict[str, Any]:
        """Totals so far: requests, bytes each way, connections, WebSocket connections, routes."""
        with self._lock:
            conns = [ConnectionCount(**vars(c)) for c in self._counts.connections]
            routes = dict(self._counts.routes.most_common())
        return {
            "requests": sum(c.requests for c in conns),
            "bytes_sent": sum(c.sent for c in conns),
            "bytes_received": sum(c.received for c in conns),
            "connections": len(conns),
            "websocket_connections": sum(c.websocket for c in conns),
            "websocket_bytes_received": sum(c.received for c in conns if c.websocket),
            "routes": routes,
        }

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        count = ConnectionCount()
        with self._lock:
            self._counts.connections.append(count)

        def on_request(method: str, target: str, headers: dict[str, str]) -> None:
            with self._lock:
                count.requests += 1
                self._counts.routes[route_of(method, target)] += 1
                if headers.get("upgrade", "").lower() == "websocket":
                    count.websocket = True

        parser = RequestParser(on_request)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, upstream: bool) -> None:
            try:
                while data := await src.read(1 << 16):
                    if upstream:
                        parser.feed(data)
                    with self._lock:
                        if upstream:
                            count.sent += len(data)
                        else:
                            count.received += len(data)
                    dst.write(data)
                    await dst.drain()
                if dst.can_write_eof():
                    dst.write_eof()
            except (ConnectionError, OSError):
                dst.close()

        try:
            await asyncio.gather(pump(reader, up_writer, True), pump(up_reader, writer, False))
        finally:
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.close()
                with contextlib.suppress(ConnectionError, OSError):
                    await w.wait_closed()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", default="http://127.0.0.1:9090", help="the server to forward to")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free port)")
    args = parser.parse_args()
    proxy = CountingProxy.to_url(args.target, port=args.port).start()
    sys.stderr.write(f"counting proxy {proxy.url} -> {args.target} (Ctrl-C prints the counts)\n")
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    counts = proxy.snapshot()
    proxy.stop()
    sys.stdout.write(json.dumps(counts, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
