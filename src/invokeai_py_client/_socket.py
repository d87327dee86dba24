"""One Socket.IO connection per client, demultiplexed to per-batch listeners.

The sync hub runs python-socketio's threaded client (websocket transport: the
server's polling transport answers 500); the async hub runs its asyncio client.
Both re-subscribe to their queues on every (re)connect, drop stale status events
and hand each event to the listeners of its batch. When the socket cannot be
opened, `connect()` answers False and jobs fall back to polling.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from typing import Any

from ._transport import ClientOptions, Credentials
from .events import Event, EventRouter, parse_event

log = logging.getLogger("invokeai_py_client.events")

RETRY_CONNECT_AFTER = 15.0
"""After a failed connect, seconds before the next attempt (jobs poll meanwhile)."""

SERVER_DISCONNECT = "server disconnect"
"""The reason python-socketio (>= 5.12) gives when the server closed the session, e.g.
a multi-user server dropping the sockets of a user whose tokens were revoked. The
client does not reconnect by itself after that; the next `connect()` opens a new one."""


ALL = "*"
"""The listener key of a listener that receives every event of the queue."""


class Listener:
    """Receives the events of some batches (a thread-safe queue)."""

    def __init__(self, batch_ids: frozenset[str]) -> None:
        self.batch_ids = batch_ids
        self.queue: queue.Queue[Event] = queue.Queue()

    def put(self, event: Event) -> None:
        self.queue.put(event)


class AsyncListener:
    """Receives the events of some batches (an asyncio queue on the hub's loop)."""

    def __init__(self, batch_ids: frozenset[str]) -> None:
        self.batch_ids = batch_ids
        self.queue: asyncio.Queue[Event] = asyncio.Queue()

    def put(self, event: Event) -> None:
        self.queue.put_nowait(event)


class _HubCore:
    """Listener bookkeeping and dispatch shared by both hubs."""

    def __init__(self, options: ClientOptions, credentials: Credentials) -> None:
        self.options = options
        self.credentials = credentials
        self.router = EventRouter()
        self.queue_ids: set[str] = {"default"}
        self._lock = threading.Lock()
        self._listeners: dict[str, set[Any]] = {}
        self._last_failure = 0.0
        self.connected = False
        self.reconnects = 0
        self.server_disconnected = False

    @property
    def socketio_path(self) -> str:
        return f"{self.options.prefix}/ws/socket.io".lstrip("/")

    def _auth(self) -> dict[str, str] | None:
        # Passed as a callable, so every (re)connect presents the current (renewed) token.
        token = self.credentials.token
        return {"token": token} if token else None

    def _note_disconnect(self, reason: Any) -> None:
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
        event = parse_event(name, data)
        if self.router.is_stale(event):
            log.debug("dropped stale %s for item %s", name, event.item_id)
            return
        self.deliver(event)

    def deliver(self, event: Event) -> None:
        """Hand an event to the listeners of its batch and to those of every event."""
        batch_ids = self.router.keys_for(event)
        with self._lock:
            if batch_ids is None:
                targets = {lst for bucket in self._listeners.values() for lst in bucket}
            else:
                targets = {lst for key in (*batch_ids, ALL) for lst in self._listeners.get(key, ())}
        for target in targets:
            target.put(event)

    def may_try_connect(self) -> bool:
        return time.monotonic() - self._last_failure >= RETRY_CONNECT_AFTER

    def note_failure(self, exc: BaseException) -> None:
        self._last_failure = time.monotonic()
        log.info("event socket unavailable (%s: %s); falling back to polling", type(exc).__name__, exc)


class SyncEventHub(_HubCore):
    """The sync client's socket (python-socketio threaded client)."""

    def __init__(self, options: ClientOptions, credentials: Credentials) -> None:
        super().__init__(options, credentials)
        self._sio: Any = None
        self._connect_lock = threading.Lock()

    def connect(self, timeout: float = 5.0) -> bool:
        """Open the socket if it is not open; True when events are flowing."""
        with self._connect_lock:
            if self._sio is not None and self._sio.connected:
                return True
            if self._sio is not None and not self.server_disconnected:
                # The client is reconnecting by itself; don't stack a second one.
                return False
            self._sio = None  # none yet, or one the server disconnected (it does not return)
            self.server_disconnected = False
            if not self.may_try_connect():
                return False
            import socketio

            sio = socketio.Client(
                reconnection=True, reconnection_delay=0.5, reconnection_delay_max=5, logger=False
            )
            sio.on("connect", self._on_connect)
            sio.on("disconnect", self._on_disconnect)
            sio.on("*", self.dispatch)
            try:
                sio.connect(
                    self.options.origin,
                    socketio_path=self.socketio_path,
                    transports=["websocket"],
                    auth=self._auth,
                    headers=dict(self.options.headers),
                    wait_timeout=timeout,
                )
            except Exception as exc:  # noqa: BLE001 - any failure means "use polling"
                self.note_failure(exc)
                try:
                    sio.disconnect()
                except Exception:
                    log.debug("disconnect after a failed connect raised", exc_info=True)
                return False
            self._sio = sio
            self._subscribe_all(sio)
            return True

    def _subscribe_all(self, sio: Any) -> None:
        # `call` waits for the server's ack: the room is joined before we enqueue.
        for queue_id in sorted(self.queue_ids):
            try:
                sio.call("subscribe_queue", {"queue_id": queue_id}, timeout=5)
            except Exception as exc:  # noqa: BLE001 - any socket failure means "use polling"
                log.debug("subscribe_queue ack for %s not received (%s)", queue_id, exc)

    def _on_connect(self) -> None:
        if self.connected is False and self._sio is not None:
            self.reconnects += 1
            # Runs on the client's own thread; a reconnect rejoins the rooms.
            threading.Thread(target=self._subscribe_all, args=(self._sio,), daemon=True).start()
        self.connected = True

    def _on_disconnect(self, reason: Any = None) -> None:
        self._note_disconnect(reason)

    def subscribe(self, queue_id: str) -> None:
        if queue_id in self.queue_ids:
            return
        self.queue_ids.add(queue_id)
        if self._sio is not None and self._sio.connected:
            self._subscribe_all(self._sio)

    def listen(self, batch_ids: frozenset[str]) -> Listener:
        listener = Listener(batch_ids)
        self.add(listener)
        return listener

    def listen_all(self) -> Listener:
        return self.listen(frozenset({ALL}))

    def close(self) -> None:
        with self._connect_lock:
            if self._sio is not None:
                try:
                    self._sio.disconnect()
                except Exception:
                    log.debug("socket disconnect raised", exc_info=True)
                self._sio = None
            self.connected = False


class AsyncEventHub(_HubCore):
    """The async client's socket (python-socketio asyncio client)."""

    def __init__(self, options: ClientOptions, credentials: Credentials) -> None:
        super().__init__(options, credentials)
        self._sio: Any = None
        self._connect_lock: asyncio.Lock | None = None

    async def connect(self, timeout: float = 5.0) -> bool:
        if self._connect_lock is None:
            self._connect_lock = asyncio.Lock()
        async with self._connect_lock:
            if self._sio is not None and self._sio.connected:
                return True
            if self._sio is not None and not self.server_disconnected:
                return False
            self._sio = None  # none yet, or one the server disconnected (it does not return)
            self.server_disconnected = False
            if not self.may_try_connect():
                return False
            import socketio

            sio = socketio.AsyncClient(
                reconnection=True, reconnection_delay=0.5, reconnection_delay_max=5, logger=False
            )
            sio.on("connect", self._on_connect)
            sio.on("disconnect", self._on_disconnect)
            sio.on("*", self.dispatch)
            try:
                await sio.connect(
                    self.options.origin,
                    socketio_path=self.socketio_path,
                    transports=["websocket"],
                    auth=self._auth,
                    headers=dict(self.options.headers),
                    wait_timeout=timeout,
                )
            except Exception as exc:  # noqa: BLE001 - any socket failure means "use polling"
                self.note_failure(exc)
                try:
                    await sio.disconnect()
                except Exception:
                    log.debug("disconnect after a failed connect raised", exc_info=True)
                return False
            self._sio = sio
            await self._subscribe_all(sio)
            return True

    async def _subscribe_all(self, sio: Any) -> None:
        for queue_id in sorted(self.queue_ids):
            try:
                await sio.call("subscribe_queue", {"queue_id": queue_id}, timeout=5)
            except Exception as exc:  # noqa: BLE001 - any socket failure means "use polling"
                log.debug("subscribe_queue ack for %s not received (%s)", queue_id, exc)

    async def _on_connect(self) -> None:
        if self.connected is False and self._sio is not None:
            self.reconnects += 1
            asyncio.get_running_loop().create_task(self._subscribe_all(self._sio))
        self.connected = True

    async def _on_disconnect(self, reason: Any = None) -> None:
        self._note_disconnect(reason)

    async def subscribe(self, queue_id: str) -> None:
        if queue_id in self.queue_ids:
            return
        self.queue_ids.add(queue_id)
        if self._sio is not None and self._sio.connected:
            await self._subscribe_all(self._sio)

    def listen(self, batch_ids: frozenset[str]) -> AsyncListener:
        listener = AsyncListener(batch_ids)
        self.add(listener)
        return listener

    def listen_all(self) -> AsyncListener:
        return self.listen(frozenset({ALL}))

    async def close(self) -> None:
        if self._sio is not None:
            try:
                await self._sio.disconnect()
            except Exception:
                log.debug("socket disconnect raised", exc_info=True)
            self._sio = None
        self.connected = False
