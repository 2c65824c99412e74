"""`no_grad()`: run ops without building a graph, on both engines.

Inside it every op returns a plain leaf holding its value, which is faster
and keeps no history (for evaluation, or optimizer updates written with
operators). The setting is per thread, as PyTorch's is: a thread's
`no_grad()` never changes what another thread builds, and every new thread
starts with graph building on. The C core keeps its flag per thread too.
"""
import functools
import threading
from typing import Any, Callable, List, Literal, Optional, TypeVar, Union, overload

from . import reference
from ._engines import cengine_or_none
from ._trace import refuse_no_grad

_F = TypeVar("_F", bound=Callable[..., Any])


def set_grad_enabled(on: bool) -> bool:
    """Turn graph building on or off in this thread, for both engines;
    returns the previous setting. Turning it off inside a function that
    compile_fn is tracing is a TracerError (its results would be frozen)."""
    if not on:
        refuse_no_grad()
    was = reference.set_grad_enabled(on)
    cengine = cengine_or_none()
    if cengine is not None:
        cengine.set_grad_enabled(on)
    return was


def is_grad_enabled() -> bool:
    """Whether ops build a graph in this thread (False inside no_grad)."""
    return bool(reference.grad_mode.enabled)


class _Saved(threading.local):
    """Each thread's stack of settings to restore, one per open no_grad block:
    blocks nest within a thread, so one stack serves every instance."""

    def __init__(self) -> None:
        self.stack: List[bool] = []


_saved = _Saved()


class no_grad:
    """Context manager and decorator: `with pygrad.no_grad(): ...`,
    `@pygrad.no_grad()` or `@pygrad.no_grad`. An instance may be reused,
    nested, and shared by threads."""

    @overload
    def __new__(cls, fn: None = None) -> "no_grad": ...
    @overload
    def __new__(cls, fn: _F) -> _F: ...  # type: ignore[misc]

    def __new__(cls, fn: Optional[_F] = None) -> Union["no_grad", _F]:  # type: ignore[misc]
        self = super().__new__(cls)
        return self if fn is None else self(fn)     # bare @no_grad

    def __enter__(self) -> "no_grad":
        _saved.stack.append(set_grad_enabled(False))
        return self

    def __exit__(self, *exc: object) -> Literal[False]:
        set_grad_enabled(_saved.stack.pop())
        return False

    def __call__(self, fn: _F) -> _F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return fn(*args, **kwargs)
        return wrapper  # type: ignore[return-value]
