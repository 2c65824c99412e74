"""Status codes of the C core and the Python exceptions they become.

Both engines raise through `error()`, so a failing op raises the same
exception with the same message on either engine.
"""

from typing import Optional

OK, ENOMEM, EDOMAIN, EZERODIV, EOVERFLOW, EINVAL, EINDEX, ENOTINT, EINTR, EBUSY, EGUARD, ENOGRAPH, EHOOK, ECUSTOM = \
    range(14)

# What a signal handler raised while the C core ran (set by the binding's
# cancel hook, see _build.py), or a user's _backward (cengine's backward
# hook); raised when the call returns EINTR or EHOOK.
pending: Optional[BaseException] = None

_EXCEPTIONS = {
    ENOMEM: (MemoryError, "out of memory in the C core"),
    EDOMAIN: (ValueError, "math domain error"),
    EZERODIV: (ZeroDivisionError, "division by zero"),
    EOVERFLOW: (OverflowError, "math range error"),
    EINVAL: (ValueError, "invalid argument"),
    EINDEX: (IndexError, "select index out of range"),
    ENOTINT: (ValueError, "select index is not an integer"),
    EBUSY: (RuntimeError, "a signal handler cannot start a backward, compile or run of the same "
                          "program while one is interrupted; call it after the handler returns"),
    ECUSTOM: (TypeError, "a micrograd-style op (its own _backward) has no derivative written as ops, so "
                         "create_graph cannot differentiate through it; write it from pygrad's operators, "
                         "or in microgpt's form (its local_grads)"),
    ENOGRAPH: (RuntimeError, "this Value was computed under pygrad.no_grad(), so it has no graph and "
                             "does not require grad; compute it with grad mode on to differentiate it"),
}


def error(status, op_name=""):
    """The exception for a PG_E* status, naming the op that failed."""
    if status == EINTR or status == EHOOK:
        global pending
        exc, pending = pending, None
        if exc is not None:
            return exc
        return KeyboardInterrupt() if status == EINTR else RuntimeError("a custom op's _backward failed")
    cls, text = _EXCEPTIONS.get(status, (RuntimeError, f"pygrad core status {status}"))
    return cls(f"{op_name}: {text}" if op_name else text)


def in_row(exc, row):
    """The same exception for a compiled run, naming the row instead of the op
    (the C core reports the row, not the op, of a failing instruction)."""
    text = str(exc).split(": ", 1)[-1]
    return type(exc)(f"row {row}: {text}")
