"""What ``fti serve`` and ``fti server`` share: binding the port first (a clear error when it
cannot be), uvicorn with one or several workers, announcing once the server answers, and the
rule that a server off loopback needs API keys."""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
from typing import Any, NoReturn

import typer

from fti.cli.context import console, errors
from fti.hosts import is_loopback


def check_auth(host: str, auth: bool) -> None:
    """Refuse to serve off loopback without API keys (exit code 2)."""
    if not auth and not is_loopback(host):
        fail(
            f"refusing to serve on {host} without API keys: anyone who reaches the port could "
            "use it. Drop --no-auth, or bind to 127.0.0.1"
        )


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (as uvicorn binds it); a clear error if it cannot be."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family=family, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except (OSError, OverflowError) as exc:
        listener.close()
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        fail(f"cannot listen on {host}:{port}: {reason}")
    listener.set_inheritable(True)
    return listener


def serve_until_stopped(
    uvicorn: Any,
    config: Any,
    listener: socket.socket,
    workers: int,
    *,
    ready_path: str,
    announce: str,
) -> None:
    """Run uvicorn on ``listener``; print ``announce`` once ``ready_path`` answers 200."""
    host, port = listener.getsockname()[:2]
    stop = threading.Event()
    threading.Thread(
        target=_announce_when_ready, args=(host, port, ready_path, announce, stop), daemon=True
    ).start()
    try:
        _run(uvicorn, config, listener, workers)
    finally:
        stop.set()


def fail(message: str) -> NoReturn:
    """Print ``error: message`` and exit with code 2."""
    errors.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(2)


def _run(uvicorn: Any, config: Any, listener: socket.socket, workers: int) -> None:
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again under the handler
    # it found: with the default one the process would die with 143 after a clean shutdown.
    # Orchestrators stop servers with SIGTERM and read a clean stop as exit code 0.
    signal.signal(signal.SIGTERM, lambda *_: None)
    if workers > 1:
        from uvicorn.supervisors import Multiprocess

        Multiprocess(config, sockets=[listener]).run()
        return
    server = uvicorn.Server(config)
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn raises the signal again on exit
        server.run(sockets=[listener])
    if not server.started:
        fail("the server did not start (see the log above)")


def _announce_when_ready(
    host: str, port: int, path: str, message: str, stop: threading.Event
) -> None:
    """Print ``message`` once the server answers ``path``."""
    import urllib.error  # here: `fti --help` need not load the HTTP client
    import urllib.request

    probe = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    url = f"http://[{probe}]:{port}" if ":" in probe else f"http://{probe}:{port}"
    while not stop.is_set():
        try:
            with urllib.request.urlopen(f"{url}{path}", timeout=1) as answer:
                if answer.status == 200:
                    console.print(message)
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
