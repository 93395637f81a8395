"""A real S3 API on loopback: moto's standalone server in a subprocess.

The session's server (``s3_endpoint`` in tests/conftest.py) accepts any credentials; a test of
refused credentials starts its own with authentication on (``authenticated_after``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path


class ServerUnavailableError(Exception):
    """moto's server is not installed or did not start."""


class MotoServer:
    """A running ``moto_server`` on 127.0.0.1 (``url``) until :meth:`stop`."""

    def __init__(self, authenticated_after: int | None = None) -> None:
        # The venv's own server (the locked moto), not one earlier on PATH: moto 5.2.1 answered
        # Arrow's multipart uploads with errors that 5.2.6 fixed.
        command = str(Path(sys.executable).with_name("moto_server"))
        if not Path(command).exists():
            raise ServerUnavailableError("moto_server is not installed: pip install 'moto[server]'")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        env = dict(os.environ)
        if authenticated_after is not None:
            # Requests after the first N are checked against the IAM users those created.
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(authenticated_after)
        self._process = subprocess.Popen(
            [command, "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return
            except OSError as exc:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise ServerUnavailableError(f"moto_server at {self.url}: {exc}") from exc
                time.sleep(0.1)

    def stop(self) -> None:
        """Stop the server (its buckets are gone)."""
        self._process.terminate()
        self._process.wait(timeout=10)
