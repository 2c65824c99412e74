"""Optimizer updates for C-engine parameters, one C call for all of them
(csrc/optim.c): the arithmetic of pygrad/optim.py's Python loops.

The parameter ids are packed once; the optimizer's state (momentum, Adam's
moments) stays in the optimizer as `array('d')`, which C updates in place,
so the state pickles and copies with the optimizer.
"""
from ._cbuf import doubles
from ._ffi import check, ffi, lib


class ParamKernels:
    """The C update rules over a fixed tuple of C-engine Values."""

    def __init__(self, params):
        self.n = len(params)
        self.ids = ffi.new("int32_t[]", [p._id for p in params])

    def zero_grad(self):
        check(lib.pg_fill_grad(self.n, self.ids, 0.0))

    def sgd(self, frozen, lr, momentum, weight_decay, velocity):
        check(lib.pg_sgd_step(self.n, self.ids, self._mask(frozen), lr, momentum, weight_decay,
                              doubles(velocity, self.n, "SGD velocity", True)), "SGD")

    def adam(self, frozen, lr, beta1, beta2, eps, weight_decay, decoupled, t, m, v):
        n = self.n
        check(lib.pg_adam_step(n, self.ids, self._mask(frozen), lr, beta1, beta2, eps, weight_decay,
                               int(decoupled), t, doubles(m, n, "Adam m", True), doubles(v, n, "Adam v", True)),
              "Adam")

    def _mask(self, frozen):
        """NULL, or one byte per parameter (optim.py made it that long)."""
        return ffi.NULL if frozen is None else ffi.from_buffer("uint8_t[]", frozen)
