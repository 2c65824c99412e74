"""Why the C core did not load, in words a user can act on.

Used by the import-time fallback warning (pygrad._engines), by the error
asking for the C engine by name (pygrad._ffi.require) and by
`python -m pygrad`, so all three give the same diagnosis.
"""
import os
from typing import Optional

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
NO_CORE_FILE = os.path.join(PACKAGE_DIR, "_no_core.txt")   # written by setup.py


def source_tree_root() -> Optional[str]:
    """The checkout this pygrad is imported from, or None for an installed one."""
    root = os.path.dirname(PACKAGE_DIR)
    if os.path.isdir(os.path.join(root, "csrc")) and os.path.isfile(os.path.join(root, "setup.py")):
        return root
    return None


def has_compiled_module() -> bool:
    """Whether a built _pygrad extension sits in the package folder."""
    return any(name.startswith("_pygrad.") and name.endswith((".so", ".pyd"))
               for name in os.listdir(PACKAGE_DIR))


def install_note() -> Optional[str]:
    """What setup.py recorded when it did not build the core (or None)."""
    try:
        with open(NO_CORE_FILE) as f:
            return f.read().strip() or None
    except OSError:
        return None


def why_no_core(load_error: Optional[BaseException]) -> str:
    """One sentence (or a few) saying why the C core is unavailable and what to do."""
    reasons = []
    note = install_note()
    if note:
        reasons.append(f"pygrad's C core was not built when pygrad was installed: {note}; "
                       "install a C compiler and reinstall (PYGRAD_BUILD_C=1 makes a failed build an error)")
    root = source_tree_root()
    if root is not None and not has_compiled_module():
        reasons.append(f"you are importing pygrad from the source tree at {root}, which has no compiled core; "
                       "run `pip install -e .`, or run from another directory")
    if not reasons:
        # pygrad is not on PyPI yet: reinstall from where it came from.
        reasons.append(f"pygrad's C core failed to load ({load_error}); reinstall pygrad from its "
                       "source checkout (`pip install --force-reinstall --no-cache-dir .` there) "
                       "or from its wheel file")
    return "; and ".join(reasons)


SIMD_PATHS = ("scalar", "vec2", "avx")   # the dense-layer kernels' vector families, narrowest first


def simd_path() -> Optional[str]:
    """The dense-layer kernels compiled programs run: "scalar", "vec2" or
    "avx" (None without the C core). PYGRAD_SIMD, read at the first run,
    forces one; a path this build or CPU cannot run gives the fastest it can."""
    from ._ffi import ffi, lib  # here: _ffi imports this module
    return None if lib is None else ffi.string(lib.pg_simd_path()).decode()


def simd_best() -> Optional[str]:
    """The fastest of SIMD_PATHS this build and CPU can run (None without the C core)."""
    from ._ffi import ffi, lib
    return None if lib is None else ffi.string(lib.pg_simd_best()).decode()
