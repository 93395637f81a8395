"""The TCP proxy forwards to a real S3 server, and a cut drops and refuses connections."""

from __future__ import annotations

import pytest

from fti.stores.locations import open_location
from support.tcp_proxy import proxied


def test_a_cut_proxy_fails_writes_and_a_restored_one_forwards(
    s3_url: str, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with proxied(s3_endpoint) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        location = open_location(s3_url)
        filesystem = location.filesystem()
        with filesystem.open_output_stream(location.path("a.txt")) as out:
            out.write(b"one")

        proxy.cut()
        with pytest.raises(OSError), filesystem.open_output_stream(location.path("b.txt")) as out:
            out.write(b"two")
        proxy.restore()

        with filesystem.open_input_stream(location.path("a.txt")) as stream:
            assert stream.read() == b"one"
        assert proxy.connections >= 2
