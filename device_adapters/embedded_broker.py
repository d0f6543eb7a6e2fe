"""An amqtt broker in a background thread, for the one-command demo (production uses Mosquitto)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import threading
import time
from types import TracebackType
from typing import Any

from amqtt.broker import Broker
from amqtt.errors import AMQTTError

log = logging.getLogger(__name__)

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
# How long each readiness probe may take; the loop waits on the thread's "failed" event
# between probes instead of sleeping, so a broker that dies at start-up is noticed at once.
POLL_INTERVAL = 0.05
# A port picked by binding to port 0 can be taken by another process before amqtt binds it.
PORT_ATTEMPTS = 3
# amqtt and its state machine library log every connection at INFO; the demo wants quiet.
_CHATTY_LOGGERS = ("amqtt", "transitions")


class EmbeddedBrokerError(RuntimeError):
    """The embedded broker could not be started or stopped."""


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # amqtt binds with SO_REUSEADDR too, so a port in TIME_WAIT counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


# MQTT 3.1.1 CONNECT (clean session, keepalive 10 s, client id below) and DISCONNECT packets.
_PROBE_ID = b"embedded-broker-probe"
_CONNECT = (
    bytes([0x10, 12 + 2 + len(_PROBE_ID)])
    + b"\x00\x04MQTT\x04\x02\x00\x0a"
    + len(_PROBE_ID).to_bytes(2, "big")
    + _PROBE_ID
)
_DISCONNECT = b"\xe0\x00"


def _mqtt_handshake(host: str, port: int) -> bool:
    """True if host:port accepts a TCP connection and answers CONNECT with CONNACK."""
    # A bare TCP connect-and-close makes amqtt 0.12 log an error and leak the socket
    # (it never closes a stream that ends before CONNECT), so probe with real MQTT.
    try:
        with socket.create_connection((host, port), timeout=POLL_INTERVAL * 4) as sock:
            sock.settimeout(1.0)
            sock.sendall(_CONNECT)
            connack = sock.recv(4)
            sock.sendall(_DISCONNECT)
    except OSError:
        return False
    return connack[:1] == b"\x20"


def _address_in_use(exc: BaseException | None) -> bool:
    # amqtt wraps the OSError from asyncio.start_server in a BrokerError; walk the chain.
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


class _Broker(Broker):
    """amqtt's Broker, closing connections that end before their CONNECT packet."""

    async def _initialize_client_session(self, reader: Any, writer: Any, *args: Any) -> Any:
        try:
            return await super()._initialize_client_session(reader, writer, *args)
        except AMQTTError:
            # amqtt 0.12.1 leaves the stream open when a client (a port probe, a health
            # check) disconnects before CONNECT; each such socket would leak until GC.
            with contextlib.suppress(OSError):
                await writer.close()
            raise


def broker_config(host: str, port: int) -> dict[str, Any]:
    """amqtt 0.12 config: one TCP listener, anonymous access, no $SYS or packet-logging plugins."""
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        # Listing plugins explicitly replaces amqtt's defaults (event/packet loggers and the
        # $SYS plugin, which emits a DeprecationWarning about psutil) and avoids the
        # deprecated entry-point plugin loading.
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }


class EmbeddedBroker:
    """An amqtt MQTT 3.1.1 broker running on its own asyncio loop in a daemon thread."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, log_level: int = logging.WARNING
    ) -> None:
        """Remember where to listen; port 0 means any free port."""
        self.host = host
        self.requested_port = port
        self.port = 0
        self.log_level = log_level
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._stop_requested = threading.Event()
        self._started = threading.Event()
        self._finished = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        """Broker URL for clients, e.g. ``mqtt://127.0.0.1:1883``."""
        return f"mqtt://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """True while the broker thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def _quiet_logging(self) -> None:
        for name in _CHATTY_LOGGERS:
            logger = logging.getLogger(name)
            # Respect a level someone configured on purpose; only tame the default.
            if logger.level == logging.NOTSET:
                logger.setLevel(self.log_level)

    def _choose_port(self) -> int:
        if self.requested_port == 0:
            return _free_port(self.host)
        if _port_is_free(self.host, self.requested_port):
            return self.requested_port
        port = _free_port(self.host)
        log.warning(
            "MQTT port %s:%d is taken; the embedded broker uses port %d instead",
            self.host, self.requested_port, port,
        )
        return port

    def start(self) -> EmbeddedBroker:
        """Start the broker and block until its port accepts TCP connections."""
        if self.running:
            return self
        self._quiet_logging()
        for attempt in range(1, PORT_ATTEMPTS + 1):
            self.port = self._choose_port()
            try:
                self._start_thread()
                self._wait_until_ready()
                log.info("embedded MQTT broker listening on %s", self.url)
                return self
            except EmbeddedBrokerError:
                self._join()
                # Between choosing a port and binding it another process may take it;
                # only that failure is worth another try on a newly chosen port.
                if attempt == PORT_ATTEMPTS or not _address_in_use(self._error):
                    raise
                log.warning("lost port %d to another process; retrying", self.port)
        raise AssertionError("unreachable")  # pragma: no cover

    def _start_thread(self) -> None:
        self._started.clear()
        self._finished.clear()
        self._stop_requested.clear()
        self._error = None
        # asyncio.Event binds to a loop only when first awaited, so it can be made here;
        # stop() may then signal it as soon as the loop exists.
        self._stop_event = asyncio.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"amqtt-broker-{self.port}", daemon=True
        )
        self._thread.start()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self._finished.is_set():
                raise EmbeddedBrokerError(
                    f"embedded broker failed to start on {self.host}:{self.port}: {self._error!r}"
                ) from self._error
            if self._started.is_set() and _mqtt_handshake(self.host, self.port):
                return
            if time.monotonic() >= deadline:
                self.stop()
                raise EmbeddedBrokerError(
                    f"embedded broker did not accept connections on {self.host}:{self.port} "
                    f"within {START_TIMEOUT:.0f} s"
                )
            # Wake early if the broker thread dies; otherwise this is the poll interval.
            self._finished.wait(POLL_INTERVAL)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start() through self._error
            self._error = exc
            log.debug("embedded broker thread ended with %r", exc)
        finally:
            try:
                pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
                for task in pending:
                    task.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()
                self._loop = None
                self._finished.set()

    async def _serve(self) -> None:
        # The Broker must be built inside the running loop: its constructor creates queues
        # and futures bound to the current loop.
        broker = _Broker(broker_config(self.host, self.port), loop=asyncio.get_running_loop())
        stop_event = self._stop_event
        assert stop_event is not None
        await broker.start()
        self._started.set()
        try:
            # The flag covers a stop() that came before this loop could be signalled.
            if not self._stop_requested.is_set():
                await stop_event.wait()
        finally:
            await broker.shutdown()

    def stop(self) -> None:
        """Shut the broker down and wait for its thread to end."""
        self._stop_requested.set()
        loop, stop_event = self._loop, self._stop_event
        if loop is not None and stop_event is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stop_event.set)
            except RuntimeError:  # the loop closed between the check and the call
                pass
        self._join()

    def _join(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        thread.join(STOP_TIMEOUT)
        if thread.is_alive():
            raise EmbeddedBrokerError(f"embedded broker did not stop within {STOP_TIMEOUT:.0f} s")

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<EmbeddedBroker {self.url} {'running' if self.running else 'stopped'}>"
