"""One Socket.IO connection per client, demultiplexed to per-batch listeners.

Both clients' hubs run the same socket (`_threaded_socket.ThreadedSocketIO`: websocket
transport, the server's polling transport answers 500): one thread reads it and hands
each event to the listeners of its batch, in order; an async client's listeners are fed
on its event loop. The hub re-subscribes to its queues on every (re)connect and drops
stale status events. When the socket cannot be opened, `connect()` answers False and
jobs fall back to polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from typing import Any

from ._threaded_socket import SERVER_DISCONNECT, ThreadedSocketIO
from ._transport import ClientOptions, Credentials
from .events import Event, EventRouter, parse_event

log = logging.getLogger("invokeai_py_client.events")

RETRY_CONNECT_AFTER = 15.0
"""After a failed connect, seconds before the next attempt (jobs poll meanwhile)."""

ALL = "*"
"""The listener key of a listener that receives every event of the queue."""
ALWAYS_READ = frozenset({"queue_item_status_changed", "queue_cleared", "queue_items_canceled"})
"""Events read even when no listener wants them: they record how items ended."""


class Listener:
    """Receives the events of some batches (a thread-safe queue); only those named in
    `names` when it is given."""

    def __init__(self, batch_ids: frozenset[str], names: frozenset[str] | None = None) -> None:
        self.batch_ids = batch_ids
        self.names = names
        self.queue: queue.Queue[Event] = queue.Queue()
        self.put = self.queue.put_nowait

    def get(self, timeout: float) -> Event | None:
        """The next event, or None after `timeout` seconds."""
        try:
            return self.queue.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return None


class AsyncListener:
    """Receives the events of some batches (an asyncio queue on the loop it was made in);
    only those named in `names` when it is given."""

    def __init__(self, batch_ids: frozenset[str], names: frozenset[str] | None = None) -> None:
        self.batch_ids = batch_ids
        self.names = names
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self._loop_thread = threading.get_ident()

    def put(self, event: Event) -> None:
        """Queue an event; from another thread (the socket's), through the loop."""
        if self._loop is None or threading.get_ident() == self._loop_thread:
            self.queue.put_nowait(event)
        else:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                self._loop.call_soon_threadsafe(self.queue.put_nowait, event)

    async def get(self, timeout: float) -> Event | None:
        """The next event, or None after `timeout` seconds."""
        try:
            return await asyncio.wait_for(self.queue.get(), max(timeout, 0.0))
        except TimeoutError:
            return None


class _Hub:
    """Everything both hubs do: the socket, its listeners and its dispatch. The hubs
    differ only in their listeners and in how their callers wait (block or await)."""

    listener_type: type[Listener] | type[AsyncListener]

    def __init__(self, options: ClientOptions, credentials: Credentials) -> None:
        self.options = options
        self.credentials = credentials
        self.router = EventRouter()
        self.queue_ids: set[str] = {"default"}
        self._lock = threading.Lock()
        self._listeners: dict[str, set[Any]] = {}
        self._last_failure = 0.0
        self._failed_token: str | None = None
        self.connected = False
        self.connections = 0
        """How many times the socket has connected: events may be missed between two."""
        self.reconnects = 0
        self.server_disconnected = False
        self.closed = False
        self.last_event_at = 0.0
        """`time.monotonic()` of the last event the socket brought, wanted or not."""
        self._sio: ThreadedSocketIO | None = None
        self._connect_lock = threading.Lock()
        self._connecting = False

    @property
    def socketio_path(self) -> str:
        return f"{self.options.prefix}/ws/socket.io".lstrip("/")

    def _auth(self) -> dict[str, str] | None:
        # Passed as a callable, so every (re)connect presents the current (renewed) token.
        token = self.credentials.token
        return {"token": token} if token else None

    def _note_disconnect(self, reason: Any = None) -> None:
        self.connected = False
        # The server's own disconnect (e.g. a multi-user server dropping the sockets of a
        # user whose tokens were revoked) is final: the next `connect()` opens a new socket.
        self.server_disconnected = reason == SERVER_DISCONNECT
        log.info("event socket disconnected (%s)", reason or "no reason given")

    def add(self, listener: Any) -> None:
        with self._lock:
            for key in listener.batch_ids:
                self._listeners.setdefault(key, set()).add(listener)

    def remove(self, listener: Any) -> None:
        with self._lock:
            for key in listener.batch_ids:
                bucket = self._listeners.get(key)
                if bucket is not None:
                    bucket.discard(listener)
                    if not bucket:
                        del self._listeners[key]

    def last_status(self, item_id: int) -> str | None:
        """The last status the socket reported for an item (None if none was seen)."""
        last = self.router.last_status(item_id)
        return last.status if last is not None else None

    def dispatch(self, name: str, data: Any) -> None:
        """Take one event off the socket: parsed only when a listener wants it.

        The queue's room brings every client's events (most of them progress events
        with preview images); status changes are always read (they record how items
        ended), the rest is dropped unread unless someone listens for it.
        """
        self.last_event_at = time.monotonic()
        if name not in ALWAYS_READ and not self._wanted(name, data):
            return
        event = parse_event(name, data)
        if self.router.is_stale(event):
            log.debug("dropped stale %s for item %s", name, event.item_id)
            return
        self.deliver(event)

    def _may_read(self, name: str) -> bool:
        """Asked before an event's data is decoded: does anyone take events of this name?"""
        self.last_event_at = time.monotonic()
        if name in ALWAYS_READ:
            return True
        with self._lock:
            return any(
                lst.names is None or name in lst.names for bucket in self._listeners.values() for lst in bucket
            )

    def _wanted(self, name: str, data: Any) -> bool:
        batch_id = data.get("batch_id") if isinstance(data, dict) else None
        with self._lock:
            keys = (batch_id, ALL) if isinstance(batch_id, str) else (ALL,)
            return any(
                lst.names is None or name in lst.names for key in keys for lst in self._listeners.get(key, ())
            )

    def deliver(self, event: Event) -> None:
        """Hand an event to the listeners of its batch and to those of every event (that want it)."""
        batch_ids = self.router.keys_for(event)
        with self._lock:
            if batch_ids is None:
                targets = {lst for bucket in self._listeners.values() for lst in bucket}
            else:
                targets = {lst for key in (*batch_ids, ALL) for lst in self._listeners.get(key, ())}
        for target in targets:
            if target.names is None or event.name in target.names:
                target.put(event)

    def may_try_connect(self) -> bool:
        # A new token (a login after the socket was refused without one) is worth a try at once.
        return (
            time.monotonic() - self._last_failure >= RETRY_CONNECT_AFTER
            or self.credentials.token != self._failed_token
        )

    def _needs_connect(self) -> bool:
        """Not connected, not closed, no retry pause, and the socket is not reconnecting by itself."""
        reconnecting = self._sio is not None and not self.server_disconnected
        return not (self.connected or self.closed or reconnecting) and self.may_try_connect()

    def note_failure(self, exc: BaseException) -> None:
        self._last_failure = time.monotonic()
        self._failed_token = self.credentials.token
        log.info("event socket unavailable (%s: %s); falling back to polling", type(exc).__name__, exc)

    def listen(self, batch_ids: frozenset[str], names: frozenset[str] | None = None) -> Any:
        listener = self.listener_type(batch_ids, names)
        self.add(listener)
        return listener

    def listen_all(self, names: frozenset[str] | None = None) -> Any:
        return self.listen(frozenset({ALL}), names)

    def busy(self, within: float) -> bool:
        """True when the socket brought any event in the last `within` seconds."""
        return time.monotonic() - self.last_event_at < within

    def _new_socket(self) -> ThreadedSocketIO:
        return ThreadedSocketIO(ssl_verify=self.options.verify, wants=self._may_read)

    def _on_connect(self) -> None:
        if self.connected is False and self._sio is not None:
            self.reconnects += 1
            # A reconnect rejoins the rooms, on a thread of its own: the socket's thread
            # (running this handler) must go on reading to receive the acknowledgements.
            threading.Thread(target=self._subscribe, args=(self._sio,), daemon=True).start()
        self.connections += 1
        self.connected = True

    def connect_soon(self) -> None:
        """Start opening the socket if it is not open, without waiting for it."""
        with self._lock:
            if self._connecting or not self._needs_connect():
                return
            self._connecting = True

        def connect() -> None:
            try:
                self._connect()
            finally:
                self._connecting = False

        threading.Thread(target=connect, name="invokeai-socket-connect", daemon=True).start()

    # --- blocking steps (the async hub runs them on a worker thread) ---

    def _connect(self, timeout: float = 5.0) -> bool:
        with self._connect_lock:
            if self.closed:
                return False
            if self._sio is not None and self._sio.connected:
                return True
            if self._sio is not None and not self.server_disconnected:
                return False  # the socket is reconnecting by itself; don't stack a second one
            self._sio = None  # none yet, or one the server disconnected (it does not return)
            self.server_disconnected = False
            if not self.may_try_connect():
                return False
            sio = self._new_socket()
            sio.on("connect", self._on_connect)
            sio.on("disconnect", self._note_disconnect)
            sio.on("*", self.dispatch)
            try:
                sio.connect(
                    self.options.origin, socketio_path=self.socketio_path, auth=self._auth,
                    headers=dict(self.options.headers), wait_timeout=timeout,
                )
            except Exception as exc:  # noqa: BLE001 - any failure means "use polling"
                self.note_failure(exc)
                sio.disconnect()
                return False
            self._sio = sio
            self._subscribe(sio)
            return True

    def _subscribe(self, sio: ThreadedSocketIO, only: str | None = None) -> None:
        # `call` waits for the server's ack: the room is joined before we enqueue.
        for queue_id in sorted(self.queue_ids) if only is None else [only]:
            try:
                sio.call("subscribe_queue", {"queue_id": queue_id}, timeout=5)
            except Exception as exc:  # noqa: BLE001 - any socket failure means "use polling"
                log.debug("subscribe_queue ack for %s not received (%s)", queue_id, exc)

    def _add_queue(self, queue_id: str) -> None:
        if queue_id not in self.queue_ids:
            self.queue_ids.add(queue_id)
            if self._sio is not None and self._sio.connected:
                self._subscribe(self._sio, queue_id)

    def _close(self) -> None:
        with self._connect_lock:
            self.closed = True
            if self._sio is not None:
                self._sio.disconnect()
                self._sio = None
            self.connected = False


class SyncEventHub(_Hub):
    """The sync client's socket."""

    listener_type = Listener

    def connect(self, timeout: float = 5.0) -> bool:
        """Open the socket if it is not open; True when events are flowing."""
        return self._connect(timeout)

    def subscribe(self, queue_id: str) -> None:
        self._add_queue(queue_id)

    def close(self) -> None:
        self._close()


class AsyncEventHub(_Hub):
    """The async client's socket: the same socket, its listeners fed on the client's loop."""

    listener_type = AsyncListener

    async def connect(self, timeout: float = 5.0) -> bool:
        """Open the socket if it is not open; True when events are flowing."""
        return await asyncio.to_thread(self._connect, timeout)

    async def subscribe(self, queue_id: str) -> None:
        await asyncio.to_thread(self._add_queue, queue_id)

    async def close(self) -> None:
        await asyncio.to_thread(self._close)
