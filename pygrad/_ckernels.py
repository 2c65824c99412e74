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

    def sgd(self, lr, momentum, velocity):
        check(lib.pg_sgd_step(self.n, self.ids, lr, momentum, doubles(velocity, self.n, "SGD velocity", True)), "SGD")

    def adam(self, lr, beta1, beta2, eps, t, m, v):
        n = self.n
        check(lib.pg_adam_step(n, self.ids, lr, beta1, beta2, eps, t,
                               doubles(m, n, "Adam m", True), doubles(v, n, "Adam v", True)), "Adam")
