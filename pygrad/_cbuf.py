"""Buffers handed to C as `double[]`, checked first.

C trusts a buffer's item type and length: a float32 array with one entry
per parameter has half the bytes C writes, an int64 array is read as the
bits of doubles, and an object array's items are pointers. So every
Python buffer that C reads or writes as doubles comes through here, which
refuses anything but exactly `n` native float64 items, contiguous (and
writable where C writes), with a TypeError or ValueError.
"""
import sys
from array import array
from typing import Any

_FLOAT64 = {"d", "@d", "=d", "<d" if sys.byteorder == "little" else ">d"}


def is_doubles(buf: Any, n: int, writable: bool = False) -> bool:
    """Whether buf is exactly n native float64 items, C-contiguous (and writable)."""
    if type(buf) is array and buf.typecode == "d":     # the optimizers' own state: no memoryview
        return len(buf) == n
    try:
        m = memoryview(buf)
    except (TypeError, ValueError, BufferError):
        return False
    with m:
        return (m.format in _FLOAT64 and m.itemsize == 8 and m.c_contiguous
                and m.nbytes == 8 * n and not (writable and m.readonly))


def doubles(buf: Any, n: int, what: str, writable: bool = False) -> Any:
    """A `double[]` over buf's own memory (no copy), after checking that it
    holds exactly n native float64 items, contiguous; else an exception
    that names `what`."""
    if not is_doubles(buf, n, writable):
        raise _refusal(buf, n, what, writable)
    from ._ffi import ffi  # here: optim.py uses is_doubles where the core is not built
    return ffi.from_buffer("double[]", buf, require_writable=writable)


def _refusal(buf: Any, n: int, what: str, writable: bool) -> Exception:
    try:
        m = memoryview(buf)
    except (TypeError, ValueError, BufferError):
        return TypeError(f"{what} must be a buffer of float64 (array('d') or a numpy float64 array), "
                         f"not {type(buf).__name__}")
    with m:
        if m.format not in _FLOAT64 or m.itemsize != 8:
            return TypeError(f"{what} must hold native float64 items, not items of format {m.format!r}")
        if not m.c_contiguous:
            return ValueError(f"{what} must be contiguous (a numpy slice with a step is not)")
        if writable and m.readonly:
            return ValueError(f"{what} must be writable")
        return ValueError(f"{what} has {m.nbytes // 8} float64 items where {n} are needed")
