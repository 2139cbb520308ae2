"""A moto server on loopback: the local AWS endpoint the whole stack and its functions talk to."""

from __future__ import annotations

import errno
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

DEFAULT_MOTO_PORT = 5000
LOOPBACK = "127.0.0.1"


def _end_with_parent() -> None:
    """In the child: get SIGTERM when the parent dies, so no moto server outlives the local stack."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class PortBusyError(RuntimeError):
    """The port asked for is already bound by another process (or another local stack)."""

    def __init__(self, port: int, what: str = "server") -> None:
        super().__init__(
            f"port {port} on {LOOPBACK} is already in use, so the {what} cannot start there; "
            f"stop whatever holds it (e.g. `lsof -iTCP:{port} -sTCP:LISTEN`) or pick another port"
        )
        self.port = port


def ensure_port_free(port: int, what: str = "server", host: str = LOOPBACK) -> None:
    """Raise PortBusyError if something already listens on host:port (checked before starting)."""
    if port == 0:
        return
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # No SO_REUSEADDR: a port in TIME_WAIT is free to bind for servers that set it, but a
        # listener is not, and that is what we must detect.
        probe.bind((host, port))
    except OSError as error:
        if error.errno in (errno.EADDRINUSE, errno.EACCES):
            raise PortBusyError(port, what) from None
        raise
    finally:
        probe.close()


def free_port(host: str = LOOPBACK) -> int:
    """An ephemeral port that was free a moment ago (for tests and `--port 0`)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def port_is_listening(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.2)
        return probe.connect_ex((host, port)) == 0


@dataclass
class MotoServer:
    """moto's ThreadedMotoServer bound to 127.0.0.1; `endpoint_url` uses `localhost` for S3's sake.

    S3 clients treat `127.0.0.1` endpoints as path-style but moto's host parsing works with both;
    `localhost` keeps virtual-host and path-style requests both routable.
    """

    port: int = DEFAULT_MOTO_PORT
    # In a process of its own moto gets the second core: in-process, its request handling competes
    # for the GIL with everything the local stack runs (producer, pollers, functions).
    separate_process: bool = False
    _server: Any = field(default=None, repr=False)
    _process: Any = field(default=None, repr=False)

    @property
    def endpoint_url(self) -> str:
        return f"http://localhost:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None or self._process is not None

    def start(self) -> MotoServer:
        import logging

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per AWS request
        # ThreadedMotoServer.start() waits forever if the bind fails, so check first.
        ensure_port_free(self.port, "moto server (local AWS)")
        if self.separate_process:
            return self._start_process()
        from moto.server import ThreadedMotoServer

        from tickerstream_local.moto_patches import install

        install()  # local writes cost what they touch, not the table size; writes serialised
        server = ThreadedMotoServer(ip_address=LOOPBACK, port=self.port, verbose=False)
        server.start()
        self._server = server
        self.port = server.get_host_and_port()[1]  # the real one when port 0 was asked for
        self._wait_ready()
        return self

    def _start_process(self) -> MotoServer:
        if not self.port:
            self.port = free_port()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tickerstream_local.moto_patches", "-H", LOOPBACK, "-p", str(self.port)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=_end_with_parent,
            # A session of its own: Ctrl-C in a terminal signals the whole foreground process group,
            # and moto must outlive the stack's graceful stop (which still writes to it).
            start_new_session=True,
        )
        self._wait_ready(timeout=30.0)
        return self

    def _wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                self._process = None
                raise RuntimeError(f"moto server on port {self.port} exited while starting")
            try:
                with urllib.request.urlopen(f"http://{LOOPBACK}:{self.port}/moto-api/", timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"moto server on port {self.port} did not become ready in {timeout:.0f}s")

    def reset(self) -> None:
        """Forget every resource (moto's reset API); the server keeps running."""
        request = urllib.request.Request(f"http://{LOOPBACK}:{self.port}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=5).close()

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        server, self._server = self._server, None
        if server is not None:
            server.stop()
            # ThreadedMotoServer.stop() shuts the loop down but leaves the socket open.
            if server._server is not None:
                server._server.server_close()

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
