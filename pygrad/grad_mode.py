"""`no_grad()`: run ops without building a graph, on both engines.

Inside it every op returns a plain leaf holding its value, which is faster
and keeps no history (for evaluation, or optimizer updates written with
operators). The setting is process-wide, not per thread, like the GIL-held
C core it switches.
"""
import functools

from . import reference
from ._engines import cengine_or_none


def set_grad_enabled(on):
    """Turn graph building on or off for both engines; returns the previous setting."""
    was = reference.set_grad_enabled(on)
    cengine = cengine_or_none()
    if cengine is not None:
        cengine.set_grad_enabled(on)
    return was


def is_grad_enabled():
    return reference._grad_enabled


class no_grad:
    """Context manager and decorator: `with pygrad.no_grad(): ...`."""

    def __enter__(self):
        self._was = set_grad_enabled(False)
        return self

    def __exit__(self, *exc):
        set_grad_enabled(self._was)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with no_grad():
                return fn(*args, **kwargs)
        return wrapper
