"""A TCP proxy the test controls: put it in front of a server, then cut and restore the line.

`cut()` closes every connection through it and turns new ones away (accepted, then closed at
once: the client sees the server hang up, as when a database restarts); `restore()` lets
connections through again. Used to take PostgreSQL away from the bridge for a while.
`stall()` holds what clients send until `release()`; `cut_on(pattern, nth)` cuts the line just
before the nth client message containing `pattern` (b"COMMIT") would reach the server.
"""

from __future__ import annotations

import selectors
import socket
import threading


class TcpProxy:
    """Forwards 127.0.0.1:<free port> to (host, port), one thread per direction."""

    def __init__(self, host: str, port: int) -> None:
        """Listen on a free local port; forwarding starts with start()."""
        self.target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._cut = False
        self._closed = False
        self.refused = 0  # connections turned away while cut
        self._stalled = False
        self.held = 0  # client messages held back by stall()
        self._trap: tuple[bytes, int] | None = None  # (pattern, messages left to let through)
        self._thread = threading.Thread(target=self._accept, name="tcp-proxy", daemon=True)

    def start(self) -> TcpProxy:
        """Start accepting."""
        self._thread.start()
        return self

    def cut(self) -> None:
        """Drop every connection and turn new ones away until restore()."""
        with self._lock:
            self._cut = True
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            _close(sock)

    def restore(self) -> None:
        """Let connections through again."""
        with self._lock:
            self._cut = False

    def stall(self) -> None:
        """Hold everything clients send (their queries wait) until release()."""
        self._stalled = True

    def release(self) -> None:
        """Forward what was held, and what comes, again."""
        self._stalled = False

    def cut_on(self, pattern: bytes, nth: int = 1) -> None:
        """Cut the line instead of forwarding the nth client message that contains `pattern`."""
        with self._lock:
            self._trap = (pattern, nth)

    def _trapped(self, data: bytes) -> bool:
        with self._lock:
            if self._trap is None or self._trap[0] not in data:
                return False
            pattern, nth = self._trap
            self._trap = (pattern, nth - 1) if nth > 1 else None
            return nth == 1

    def close(self) -> None:
        """Stop the proxy and drop everything."""
        self._closed = True
        self.cut()
        _close(self._listener)
        self._thread.join(5)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                cut = self._cut
            if cut:
                self.refused += 1
                _close(client)
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            server.settimeout(None)
            with self._lock:
                if self._cut:
                    _close(client)
                    _close(server)
                    continue
                self._open.update((client, server))
            threading.Thread(target=self._pipe, args=(client, server), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        """Forward between client `a` and server `b` until either side or cut() ends it."""
        held = b""  # from the client, not yet forwarded (stalled, or just read)
        with selectors.DefaultSelector() as sel:
            sel.register(a, selectors.EVENT_READ)
            sel.register(b, selectors.EVENT_READ)
            try:
                while True:
                    for key, _ in sel.select(timeout=0.2):
                        data = key.fileobj.recv(65536)
                        if not data:
                            raise OSError("closed")
                        if key.fileobj is a:
                            held += data
                            self.held += self._stalled
                        else:
                            a.sendall(data)
                    if held and not self._stalled:
                        if self._trapped(held):
                            self.cut()
                            raise OSError("cut")
                        b.sendall(held)
                        held = b""
                    with self._lock:
                        if a not in self._open:
                            raise OSError("cut")
            except (OSError, ValueError):
                pass
        with self._lock:
            self._open.difference_update((a, b))
        _close(a)
        _close(b)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
