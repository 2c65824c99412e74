"""The one module that imports the compiled core: `ffi`, `lib`, and the
turning of C status codes into Python exceptions. Every other module goes
through here, so the C/Python boundary sits in one place.
"""
import os
from typing import Any, Dict, Optional

from . import _pypy
from ._coreinfo import why_no_core
from ._errors import error

LOAD_ERROR: Optional[ImportError]
# The C engine's handle type (pygrad/_handle.c), which the core's module
# puts here on CPython; None on PyPy, where cengine's Python handle serves.
Handle: Any = None
try:
    from ._pygrad import ffi, lib
except ImportError as exc:  # not built: the reference engine still works
    ffi = lib = None
    LOAD_ERROR = exc
else:
    LOAD_ERROR = None
    lib.pygrad_install_cancel_hook()   # Ctrl-C stops long calls (see _build.py)
    if os.environ.get("PYGRAD_C_HANDLE", "1").strip() != "0":   # 0: the Python handle (to compare, to test)
        lib.pygrad_publish_handle()    # sets Handle, on CPython
    _pypy.install(ffi, lib)   # on PyPy: the GC learns of the core's memory


def require() -> None:
    """Raise a clear ImportError, saying why, if the C core did not load."""
    if lib is None:
        raise ImportError(f"{why_no_core(LOAD_ERROR)}. The pure-Python engine works without it: "
                          "PYGRAD_ENGINE=python") from LOAD_ERROR


def check(status: int, op_name: str = "") -> None:
    """Raise the Python exception for a non-zero status."""
    if status:
        raise error(status, op_name)


def check_id(result: int, op_name: str = "") -> int:
    """Node-creating calls return an id (>= 0) or a negative status."""
    if result < 0:
        raise error(-result, op_name)
    return result


def stats() -> Dict[str, int]:
    """The core's bookkeeping: live nodes, capacity and bytes held."""
    require()
    s = ffi.new("pg_stats_t *")
    check(lib.pg_stats(s))
    return {name: getattr(s, name) for name in ("live", "capacity", "node_bytes", "pool_bytes", "kid_bytes", "made")}
