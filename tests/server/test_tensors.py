"""Binary tensor data as tritonclient encodes and decodes it."""

from __future__ import annotations

import numpy as np
import pytest
from tritonclient.utils import deserialize_bytes_tensor, serialize_byte_tensor

import fti
from fti.server import tensors


def test_bytes_elements_round_trip_with_tritonclient() -> None:
    texts = ["EWR", "", "Zürich", "a|b"]
    raw = serialize_byte_tensor(np.array([t.encode() for t in texts], dtype=object)).item()
    assert tensors.decode_bytes("origin", raw) == texts
    encoded = tensors.to_bytes("BYTES", texts)
    assert [v.decode() for v in deserialize_bytes_tensor(encoded)] == texts


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\x05\x00\x00", "truncated BYTES element length"),
        (b"\x05\x00\x00\x00abc", "truncated BYTES element"),
        (b"\x01\x00\x00\x00\xff", "not UTF-8"),
    ],
    ids=["short_length", "short_element", "not_utf8"],
)
def test_broken_bytes_elements_are_refused(raw: bytes, message: str) -> None:
    with pytest.raises(fti.InvalidArgumentError, match=message):
        tensors.decode_bytes("origin", raw)


@pytest.mark.parametrize(
    ("datatype", "values"),
    [
        ("FP64", [1.5, np.nan]),
        ("FP32", [0.25, -2.0]),
        ("INT64", [-(2**63), 7]),
        ("BOOL", [True, False]),
    ],
    ids=["fp64", "fp32", "int64", "bool"],
)
def test_numbers_round_trip_little_endian(datatype: str, values: list[object]) -> None:
    raw = tensors.to_bytes(datatype, values)
    assert (
        raw
        == np.asarray(values, dtype=tensors.NUMPY_TYPES[datatype])
        .astype(np.dtype(tensors.NUMPY_TYPES[datatype]).newbyteorder("<"))
        .tobytes()
    )
    back = tensors.from_bytes("x", datatype, raw, len(values))
    assert np.array_equal(back, np.asarray(values, dtype=back.dtype), equal_nan=datatype != "BOOL")


def test_binary_data_of_the_wrong_size_is_refused() -> None:
    with pytest.raises(fti.InvalidArgumentError, match="2 FP64 value\\(s\\) take 16 bytes"):
        tensors.from_bytes("x", "FP64", b"\x00" * 12, 2)
