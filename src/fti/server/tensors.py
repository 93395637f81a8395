"""Tensors of the Open Inference Protocol: datatypes, JSON data and the binary data extension.

A tensor's data is in the JSON body (flat or nested, row-major), or, with the binary tensor
data extension, in raw bytes after the JSON header: little-endian values of the datatype
(BOOL one byte each), BYTES as elements each prefixed by its 4-byte little-endian length.
Each input of an fti model is one feature column, so its shape is ``[N]`` or ``[N, 1]``.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from fti.errors import InvalidArgumentError

NUMPY_TYPES: dict[str, Any] = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "BYTES": np.object_,
}
"""The datatypes fti takes, and their NumPy types (BF16 has none in NumPy)."""

Datatype = Literal[
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BYTES",
]
DATATYPES: tuple[str, ...] = get_args(Datatype)


def datatype_of(dtype: Any) -> str:
    """The datatype a model input or output of ``dtype`` is declared with.

    Integers are declared FP64: fti features are nullable, and a missing value can then be
    sent as NaN in binary data too (INT64 is accepted as well).
    """
    if isinstance(dtype, pd.CategoricalDtype | pd.StringDtype | pd.DatetimeTZDtype):
        return "BYTES"
    kind = np.dtype(dtype).kind
    if kind == "b":
        return "BOOL"
    if kind == "f" and np.dtype(dtype).itemsize == 4:
        return "FP32"
    return "FP64" if kind in "iuf" else "BYTES"


def rows_of(name: str, shape: Sequence[int]) -> int:
    """The number of rows of an input of ``shape``: ``[N]`` or ``[N, 1]``."""
    if not shape or len(shape) > 2 or any(d < 0 for d in shape) or shape[1:] not in ([], [1]):
        raise InvalidArgumentError(
            f"input {name!r}: shape {list(shape)} is not [N] or [N, 1] (one feature per input)"
        )
    return shape[0]


def from_json(name: str, datatype: str, data: Sequence[Any], rows: int) -> np.ndarray[Any, Any]:
    """The values of an input given as JSON data, checked against its datatype.

    ``null`` is a missing value (NaN) in a numeric input, None in a BYTES one.
    """
    values = _flat(data)
    if len(values) != rows:
        raise InvalidArgumentError(
            f"input {name!r}: shape says {rows} value(s), data has {len(values)}"
        )
    check = _check(datatype)
    for value in values:
        if not check(value):
            raise InvalidArgumentError(f"input {name!r}: {value!r} is not a {datatype} value")
    if datatype == "BYTES":
        return np.array(values, dtype=object)
    if datatype == "BOOL":
        return np.array(values, dtype=bool)
    if any(v is None for v in values):
        return np.array([math.nan if v is None else v for v in values], dtype=np.float64)
    try:
        return np.array(values, dtype=NUMPY_TYPES[datatype])
    except OverflowError as exc:
        raise InvalidArgumentError(f"input {name!r}: a value is outside {datatype}") from exc


def from_bytes(name: str, datatype: str, raw: bytes, rows: int) -> np.ndarray[Any, Any]:
    """The values of an input given as binary tensor data."""
    if datatype == "BYTES":
        values = decode_bytes(name, raw)
        if len(values) != rows:
            raise InvalidArgumentError(
                f"input {name!r}: shape says {rows} value(s), binary data has {len(values)}"
            )
        return np.array(values, dtype=object)
    dtype = np.dtype(NUMPY_TYPES[datatype]).newbyteorder("<")
    if len(raw) != rows * dtype.itemsize:
        raise InvalidArgumentError(
            f"input {name!r}: {rows} {datatype} value(s) take {rows * dtype.itemsize} bytes, "
            f"binary data has {len(raw)}"
        )
    if datatype == "BOOL":
        flags: np.ndarray[Any, Any] = np.frombuffer(raw, dtype=np.uint8) != 0
        return flags
    return np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("="))


def decode_bytes(name: str, raw: bytes) -> list[str]:
    """BYTES elements (4-byte little-endian length, then the bytes), as UTF-8 text."""
    values = []
    offset = 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise InvalidArgumentError(f"input {name!r}: truncated BYTES element length")
        (length,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        if offset + length > len(raw):
            raise InvalidArgumentError(f"input {name!r}: truncated BYTES element")
        try:
            values.append(raw[offset : offset + length].decode())
        except UnicodeDecodeError as exc:
            raise InvalidArgumentError(f"input {name!r}: a BYTES element is not UTF-8") from exc
        offset += length
    return values


def to_bytes(datatype: str, values: Sequence[Any]) -> bytes:
    """Binary tensor data of output ``values`` of ``datatype``."""
    if datatype == "BYTES":
        parts = []
        for value in values:
            encoded = b"" if value is None else str(value).encode()
            parts.append(struct.pack("<I", len(encoded)) + encoded)
        return b"".join(parts)
    array = np.asarray(values, dtype=NUMPY_TYPES[datatype])
    return array.astype(array.dtype.newbyteorder("<")).tobytes()


def output_values(datatype: str, values: list[Any]) -> list[Any]:
    """Prediction ``values`` as the declared ``datatype`` holds them (text for BYTES)."""
    if datatype == "BYTES":
        return [None if v is None else str(v) for v in values]
    if datatype == "BOOL":
        return [bool(v) for v in values]
    if datatype.startswith("FP"):
        return [math.nan if v is None else float(v) for v in values]
    return [int(v) for v in values]


def _flat(data: Sequence[Any]) -> list[Any]:
    """Nested (row-major) JSON data as one list."""
    if not any(isinstance(v, list) for v in data):
        return list(data)
    flat: list[Any] = []
    for value in data:
        flat.extend(_flat(value) if isinstance(value, list) else [value])
    return flat


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)  # no null: a BOOL input cannot be missing; send FP64


def _is_int(value: Any) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool))


def _is_number(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _is_text(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _check(datatype: str) -> Callable[[Any], bool]:
    if datatype == "BOOL":
        return _is_bool
    if datatype == "BYTES":
        return _is_text
    return _is_number if datatype.startswith("FP") else _is_int
