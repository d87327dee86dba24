"""One Socket.IO connection per client, demultiplexed to per-batch listeners.

The sync hub runs our own threaded Socket.IO client (`_threaded_socket`: websocket
transport; the server's polling transport answers 500); the async hub runs
python-socketio's asyncio client.
Both re-subscribe to their queues on every (re)connect, drop stale status events
and hand each event to the listeners of its batch. When the socket cannot be
opened, `connect()` answers False and jobs fall back to polling.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import queue
import ssl
import threading
import time
from collections.abc import Generator
from typing import Any, TypeVar, cast

from ._threaded_socket import ThreadedSocketIO
from ._transport import ClientOptions, Credentials
from .events import Event, EventRouter, parse_event

log = logging.getLogger("invokeai_py_client.events")

T = TypeVar("T")

RETRY_CONNECT_AFTER = 15.0
"""After a failed connect, seconds before the next attempt (jobs poll meanwhile)."""

SERVER_DISCONNECT = "server disconnect"
"""The reason both sockets (ours, python-socketio >= 5.12) give when the server closed
the session, e.g. a multi-user server dropping the sockets of a user whose tokens were
revoked. They do not reconnect by themselves after that; the next `connect()` opens a
new one."""


ALL = "*"
ALWAYS_READ = frozenset({"queue_item_status_changed", "queue_cleared", "queue_items_canceled"})
"""Events read even when no listener wants them: they record how items ended."""
"""The listener key of a listener that receives every event of the queue."""


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
    """Receives the events of some batches (an asyncio queue on the hub's loop); only
    those named in `names` when it is given."""

    def __init__(self, batch_ids: frozenset[str], names: frozenset[str] | None = None) -> None:
        self.batch_ids = batch_ids
        self.names = names
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        self.put = self.queue.put_nowait

    async def get(self, timeout: float) -> Event | None:
        """The next event, or None after `timeout` seconds."""
        try:
            return await asyncio.wait_for(self.queue.get(), max(timeout, 0.0))
        except TimeoutError:
            return None


class _Hub(abc.ABC):
    """Everything both hubs do: listeners, dispatch, and the socket's steps.

    The steps (`_connect_steps`, ...) are generators that yield what a socket call
    answers: a value from `ThreadedSocketIO`, an awaitable from python-socketio's
    asyncio client.
    `_drive` and `_drive_async` run them; the hubs add only their lock and driver.
    """

    listener_type: type[Listener] | type[AsyncListener]

    def __init__(self, options: ClientOptions, credentials: Credentials) -> None:
        self.options = options
        self.credentials = credentials
        self.router = EventRouter()
        self.queue_ids: set[str] = {"default"}
        self._lock = threading.Lock()
        self._listeners: dict[str, set[Any]] = {}
        self._last_failure = 0.0
        self.connected = False
        self.connections = 0
        """How many times the socket has connected: events may be missed between two."""
        self.reconnects = 0
        self.server_disconnected = False
        self.closed = False
        self.last_event_at = 0.0
        """`time.monotonic()` of the last event the socket brought, wanted or not."""
        self._sio: Any = None

    @property
    def socketio_path(self) -> str:
        return f"{self.options.prefix}/ws/socket.io".lstrip("/")

    def _auth(self) -> dict[str, str] | None:
        # Passed as a callable, so every (re)connect presents the current (renewed) token.
        token = self.credentials.token
        return {"token": token} if token else None

    def _note_disconnect(self, reason: Any = None) -> None:
        self.connected = False
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
        return time.monotonic() - self._last_failure >= RETRY_CONNECT_AFTER

    def _needs_connect(self) -> bool:
        """Not connected, not closed, no retry pause, and the socket is not reconnecting by itself."""
        reconnecting = self._sio is not None and not self.server_disconnected
        return not (self.connected or self.closed or reconnecting) and self.may_try_connect()

    def note_failure(self, exc: BaseException) -> None:
        self._last_failure = time.monotonic()
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

    @abc.abstractmethod
    def _new_socket(self) -> Any:
        """A Socket.IO client of this hub's kind."""

    @abc.abstractmethod
    def _resubscribe(self, sio: Any) -> None:
        """Rejoin the rooms without blocking the socket's handler (a thread or a task)."""

    def _on_connect(self) -> None:
        if self.connected is False and self._sio is not None:
            self.reconnects += 1
            self._resubscribe(self._sio)  # a reconnect rejoins the rooms
        self.connections += 1
        self.connected = True

    def _connect_steps(self, timeout: float) -> Generator[Any, Any, bool]:
        if self.closed:
            return False
        if self._sio is not None and self._sio.connected:
            return True
        if self._sio is not None and not self.server_disconnected:
            return False  # the client is reconnecting by itself; don't stack a second one
        self._sio = None  # none yet, or one the server disconnected (it does not return)
        self.server_disconnected = False
        if not self.may_try_connect():
            return False
        sio = self._new_socket()
        sio.on("connect", self._on_connect)
        sio.on("disconnect", self._note_disconnect)
        sio.on("*", self.dispatch)
        try:
            yield sio.connect(
                self.options.origin, socketio_path=self.socketio_path, transports=["websocket"],
                auth=self._auth, headers=dict(self.options.headers), wait_timeout=timeout,
            )
        except Exception as exc:  # noqa: BLE001 - any failure means "use polling"
            self.note_failure(exc)
            yield from self._disconnect_steps(sio)
            return False
        self._sio = sio
        yield from self._subscribe_steps(sio)
        return True

    def _subscribe_steps(self, sio: Any, only: str | None = None) -> Generator[Any, Any, None]:
        # `call` waits for the server's ack: the room is joined before we enqueue.
        for queue_id in sorted(self.queue_ids) if only is None else [only]:
            try:
                yield sio.call("subscribe_queue", {"queue_id": queue_id}, timeout=5)
            except Exception as exc:  # noqa: BLE001 - any socket failure means "use polling"
                log.debug("subscribe_queue ack for %s not received (%s)", queue_id, exc)

    def _add_queue_steps(self, queue_id: str) -> Generator[Any, Any, None]:
        if queue_id not in self.queue_ids:
            self.queue_ids.add(queue_id)
            if self._sio is not None and self._sio.connected:
                yield from self._subscribe_steps(self._sio, queue_id)

    def _disconnect_steps(self, sio: Any) -> Generator[Any, Any, None]:
        try:
            yield sio.disconnect()
        except Exception:
            log.debug("socket disconnect raised", exc_info=True)

    def _close_steps(self) -> Generator[Any, Any, None]:
        self.closed = True
        if self._sio is not None:
            yield from self._disconnect_steps(self._sio)
            self._sio = None
        self.connected = False


def _drive(steps: Generator[Any, Any, T]) -> T:
    """Run socket steps of the threaded client: its calls have answered by the time they are yielded."""
    try:
        answer = None
        while True:
            answer = steps.send(answer)
    except StopIteration as done:
        return cast(T, done.value)


async def _drive_async(steps: Generator[Any, Any, T]) -> T:
    """Run socket steps of the asyncio client: await each, send back its answer or throw its error."""
    answer: Any = None
    error: Exception | None = None
    while True:
        try:
            pending = steps.throw(error) if error is not None else steps.send(answer)
        except StopIteration as done:
            return cast(T, done.value)
        try:
            answer, error = await pending, None
        except Exception as exc:  # noqa: BLE001 - the step decides what a failure means
            answer, error = None, exc


_SOCKET_SETTINGS: dict[str, Any] = {
    "reconnection": True, "reconnection_delay": 0.5, "reconnection_delay_max": 5, "logger": False,
}


class SyncEventHub(_Hub):
    """The sync client's socket (`ThreadedSocketIO`: one reading thread, events in order)."""

    listener_type = Listener

    def __init__(self, options: ClientOptions, credentials: Credentials) -> None:
        super().__init__(options, credentials)
        self._connect_lock = threading.Lock()
        self._connecting = False

    def _new_socket(self) -> ThreadedSocketIO:
        return ThreadedSocketIO(
            ssl_verify=self.options.verify, wants=self._may_read,
            reconnection_delay=_SOCKET_SETTINGS["reconnection_delay"],
            reconnection_delay_max=_SOCKET_SETTINGS["reconnection_delay_max"],
        )

    def _resubscribe(self, sio: Any) -> None:
        # Runs on the socket's own thread, which must not wait for the acks.
        threading.Thread(target=_drive, args=(self._subscribe_steps(sio),), daemon=True).start()

    def connect(self, timeout: float = 5.0) -> bool:
        """Open the socket if it is not open; True when events are flowing."""
        with self._connect_lock:
            return _drive(self._connect_steps(timeout))

    def connect_soon(self) -> None:
        """Start opening the socket if it is not open, without waiting for it."""
        with self._lock:
            if self._connecting or not self._needs_connect():
                return
            self._connecting = True

        def connect() -> None:
            try:
                self.connect()
            finally:
                self._connecting = False

        threading.Thread(target=connect, name="invokeai-socket-connect", daemon=True).start()

    def subscribe(self, queue_id: str) -> None:
        _drive(self._add_queue_steps(queue_id))

    def close(self) -> None:
        with self._connect_lock:
            _drive(self._close_steps())


class AsyncEventHub(_Hub):
    """The async client's socket (python-socketio asyncio client)."""

    listener_type = AsyncListener

    def __init__(self, options: ClientOptions, credentials: Credentials) -> None:
        super().__init__(options, credentials)
        self._connect_lock: asyncio.Lock | None = None  # made in the running loop
        self._connecting: asyncio.Task[bool] | None = None
        self._resubscribing: set[asyncio.Task[None]] = set()

    def _new_socket(self) -> Any:
        import socketio

        verify = self.options.verify
        tls: dict[str, Any] = {"ssl_verify": verify is not False}
        if isinstance(verify, str):  # a CA bundle, as the HTTP client was given
            tls["websocket_extra_options"] = {"ssl": ssl.create_default_context(cafile=verify)}
        return socketio.AsyncClient(**_SOCKET_SETTINGS, **tls)

    def _resubscribe(self, sio: Any) -> None:
        task = asyncio.get_running_loop().create_task(_drive_async(self._subscribe_steps(sio)))
        self._resubscribing.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(self._resubscribing.discard)

    async def connect(self, timeout: float = 5.0) -> bool:
        """Open the socket if it is not open; True when events are flowing."""
        self._connect_lock = self._connect_lock or asyncio.Lock()
        async with self._connect_lock:
            return await _drive_async(self._connect_steps(timeout))

    def connect_soon(self) -> None:
        """Start opening the socket if it is not open, without waiting for it (in the running loop)."""
        if self._connecting is not None or not self._needs_connect():
            return
        task = self._connecting = asyncio.get_running_loop().create_task(self.connect())

        def done(_: asyncio.Task[bool]) -> None:
            self._connecting = None

        task.add_done_callback(done)

    async def subscribe(self, queue_id: str) -> None:
        await _drive_async(self._add_queue_steps(queue_id))

    async def close(self) -> None:
        await _drive_async(self._close_steps())
