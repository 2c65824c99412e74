"""`no_grad()`: run ops without building a graph, on both engines.

Inside it every op returns a plain leaf holding its value, which is faster
and keeps no history (for evaluation, or optimizer updates written with
operators). The setting is process-wide, not per thread, like the GIL-held
C core it switches.
"""
import functools
from typing import Any, Callable, Literal, TypeVar

from . import reference
from ._engines import cengine_or_none

_F = TypeVar("_F", bound=Callable[..., Any])


def set_grad_enabled(on: bool) -> bool:
    """Turn graph building on or off for both engines; returns the previous setting."""
    was = reference.set_grad_enabled(on)
    cengine = cengine_or_none()
    if cengine is not None:
        cengine.set_grad_enabled(on)
    return was


def is_grad_enabled() -> bool:
    """Whether ops build a graph (False inside no_grad)."""
    return reference._grad_enabled


class no_grad:
    """Context manager and decorator: `with pygrad.no_grad(): ...`."""

    def __enter__(self) -> "no_grad":
        self._was = set_grad_enabled(False)
        return self

    def __exit__(self, *exc: object) -> Literal[False]:
        set_grad_enabled(self._was)
        return False

    def __call__(self, fn: _F) -> _F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with no_grad():
                return fn(*args, **kwargs)
        return wrapper  # type: ignore[return-value]
