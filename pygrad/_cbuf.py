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


_F64: Any = None


def _f64(np: Any) -> Any:
    """numpy's native float64 dtype (one object: `is` compares it)."""
    global _F64
    if _F64 is None:
        _F64 = np.dtype(np.float64)
    return _F64


def is_doubles(buf: Any, n: int, writable: bool = False) -> bool:
    """Whether buf is exactly n native float64 items, C-contiguous (and writable)."""
    if type(buf) is array and buf.typecode == "d":     # the optimizers' own state: no memoryview
        return len(buf) == n
    np = sys.modules.get("numpy")   # a numpy array is one only if numpy was imported
    if np is not None and type(buf) is np.ndarray and buf.dtype is _f64(np):
        # compiled batches: the common case, checked without a memoryview (~3 us a call)
        flags = buf.flags
        return buf.size == n and flags.c_contiguous and (flags.writeable or not writable)
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
    return _from_buffer()("double[]", buf, writable)


_FROM_BUFFER: Any = None


def _from_buffer() -> Any:
    """cffi's from_buffer, looked up once (not at import: optim.py uses
    is_doubles where the core is not built)."""
    global _FROM_BUFFER
    if _FROM_BUFFER is None:
        from ._ffi import ffi
        _FROM_BUFFER = ffi.from_buffer
    return _FROM_BUFFER


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
