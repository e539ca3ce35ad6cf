"""The authenticated channel between the driver and the tasks of one search.

Actors receive their trials over it and send back outcomes; trial tasks of the jobs backend
tell the driver when their objective starts. Built on the standard library's
``multiprocessing.connection``: the driver listens at an OS-chosen port, and every connection
proves it knows the search's 32-byte key (HMAC challenge both ways) before anything from it is
unpickled. Each connection is served by its own thread, with a time limit on the handshake,
so a silent or hostile peer can neither block others nor get anything unpickled.

Driver side: ``Channel``. Worker side: ``connect`` (a fresh connection) and ``shared_link``
(one connection per Python worker process, kept across the tasks it runs).
"""
from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import socket
import threading
import time
from multiprocessing.connection import (Connection, Listener, answer_challenge,
                                        deliver_challenge)
from typing import Any, Callable, Optional, Tuple

from hyperspark.errors import summarize

logger = logging.getLogger("hyperspark")

AUTH_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 10.0
PROBE_TIMEOUT_S = 5.0


class Peer:
    """One authenticated connection, as the driver sees it. ``send`` may be called from any
    thread. ``tag`` is free for the backend (the actor this connection belongs to)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.tag: Any = None
        self.closed = threading.Event()
        self._send_lock = threading.Lock()

    def send(self, message: Any) -> None:
        with self._send_lock:
            self.connection.send(message)

    def close(self) -> None:
        """Close the connection and wake the thread reading it (closing a descriptor does not
        wake a blocked read; shutting the socket down does)."""
        self.closed.set()
        try:
            with socket.socket(fileno=os.dup(self.connection.fileno())) as view:
                view.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.connection.close()
        except OSError:
            pass


class Channel:
    """The driver's end: accepts authenticated connections and hands every message to
    ``on_message(peer, message)``; ``on_closed(peer)`` once a peer is gone. Both run on the
    peer's own thread."""

    def __init__(self, host: str, on_message: Callable[[Peer, Any], None],
                 on_closed: Callable[[Peer], None] = lambda peer: None) -> None:
        self.authkey = secrets.token_bytes(32)
        self._listener = Listener((host, 0))
        self.address: Tuple[str, int] = self._listener.address
        self._on_message, self._on_closed = on_message, on_closed
        self._lock = threading.Condition()
        self._peers: set = set()
        self._closing = False
        self._accepting = threading.Thread(target=self._accept_loop, daemon=True,
                                           name="hyperspark-channel-accept")
        self._accepting.start()

    def _accept_loop(self) -> None:
        while True:
            try:
                connection = self._listener.accept()
            except OSError:
                return  # the listener is closed
            with self._lock:
                if self._closing:
                    connection.close()
                    return
            threading.Thread(target=self._serve, args=(connection,), daemon=True,
                             name="hyperspark-channel").start()

    def _serve(self, connection: Connection) -> None:
        timer = threading.Timer(AUTH_TIMEOUT_S, connection.close)  # a silent peer
        timer.start()
        try:
            deliver_challenge(connection, self.authkey)
            answer_challenge(connection, self.authkey)
        except Exception as exc:
            connection.close()
            if not self._closing:  # closed under it by close(): not an intruder
                logger.warning("dropped a connection to the channel that failed "
                               "authentication (%s)", type(exc).__name__)
            return
        finally:
            timer.cancel()
        peer = Peer(connection)
        with self._lock:
            if self._closing:
                connection.close()
                return
            self._peers.add(peer)
        try:
            while True:
                message = connection.recv()  # authenticated: unpickling is safe now
                self._on_message(peer, message)
        except Exception:  # EOF, reset, or closed under us (a Connection closed by another
            pass           # thread raises OSError or TypeError in the read it interrupts)
        finally:
            peer.closed.set()
            with self._lock:
                self._peers.discard(peer)
                self._lock.notify_all()
            self._on_closed(peer)

    def stop_accepting(self) -> None:
        """Refuse new connections (a peer that connects from now on sees the channel closed);
        the connected ones go on."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
        try:  # closing a listening socket does not wake accept(); a connection does (to
            # where it really listens, whatever address is advertised to executors)
            socket.create_connection(self._listener.address, timeout=1).close()
        except OSError:
            pass
        self._listener.close()

    def close(self, grace_s: float = 0.0) -> None:
        """Stop accepting; give peers ``grace_s`` to hang up on their side first (a peer
        told to stop closes its end, and then nothing is ever reset mid-message), then close
        what remains."""
        self.stop_accepting()
        deadline = time.monotonic() + grace_s
        with self._lock:
            while self._peers and time.monotonic() < deadline:
                self._lock.wait(deadline - time.monotonic())
            remaining = list(self._peers)
        for peer in remaining:
            peer.close()

    def peer_count(self) -> int:
        with self._lock:
            return len(self._peers)


# ---------------------------------------------------------------- worker side
def connect(address: Tuple[str, int], authkey: bytes,
            timeout_s: float = CONNECT_TIMEOUT_S) -> Connection:
    """A new authenticated connection to the driver's channel (raises ``OSError`` when the
    driver cannot be reached within ``timeout_s``)."""
    sock = socket.create_connection(address, timeout=timeout_s)
    sock.setblocking(True)  # Connection reads the raw descriptor: it must block
    connection = Connection(sock.detach())
    try:
        answer_challenge(connection, authkey)
        deliver_challenge(connection, authkey)
    except BaseException:
        connection.close()
        raise
    return connection


_link_lock = threading.Lock()
_link: Optional[Tuple[Tuple[Tuple[str, int], bytes], Connection]] = None


def shared_link(address: Tuple[str, int], authkey: bytes) -> Connection:
    """This Python worker's connection to the channel at ``address``, opened on first use and
    kept for the next tasks of the same search (a task then pays one send, not a handshake)."""
    global _link
    with _link_lock:
        if _link is not None and _link[0] == (address, authkey) and not _link[1].closed:
            return _link[1]
        drop_shared_link()
        connection = connect(address, authkey)
        _link = ((address, authkey), connection)
        return connection


def drop_shared_link() -> None:
    """Forget (and close) this worker's shared connection, e.g. after a send failed."""
    global _link
    if _link is not None:
        try:
            _link[1].close()
        except OSError:
            pass
        _link = None


# ---------------------------------------------------------------- can executors reach us?
@dataclasses.dataclass(frozen=True)
class ReachProbe:
    """A task body: try to connect back to the channel; None when it worked, else why not."""

    address: Tuple[str, int]
    authkey: bytes

    def __call__(self) -> Optional[str]:
        try:
            connect(self.address, self.authkey, timeout_s=PROBE_TIMEOUT_S).close()
        except Exception as exc:
            return summarize(exc)
        return None


def open_checked_channel(runner: Any, name: str, on_message: Callable[[Peer, Any], None],
                         on_closed: Callable[[Peer], None] = lambda peer: None
                         ) -> Tuple[Channel, Optional[str]]:
    """A channel for the search or fleet ``name``, and why executors cannot reach it (None
    when they can). When they cannot, the channel is closed already: the caller decides what
    to do without it (the jobs backend goes on, actors cannot)."""
    from hyperspark.backends.groups import probe_group

    channel = Channel(runner.channel_host(), on_message, on_closed)
    why = unreachable_reason(runner, channel, probe_group(name))
    if why is not None:
        channel.close()
    return channel, why


def unreachable_reason(runner: Any, channel: Channel, group: str) -> Optional[str]:
    """Why executors cannot connect to ``channel``, or None when they can. A runner whose
    executors reach the driver by construction (classic Spark) is not asked: no job runs.
    Otherwise (a Spark Connect client, maybe a laptop driving a remote cluster) one task
    tries to connect back."""
    if runner.executors_reach_driver:
        return None
    try:
        return runner.run_task(group, "hyperspark: can executors reach the driver?",
                               ReachProbe(channel.address, channel.authkey))
    except Exception as exc:
        return summarize(exc)
