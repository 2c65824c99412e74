"""Python handles on the compiled floors: a recorded graph to differentiate,
and an MLP to train. Arrays cross into C without copies (ffi.from_buffer)."""
import random


class Graph:
    """A recorded graph (recorder.Tape) copied into backward.c's node array."""

    def __init__(self, mod, tape):
        ffi, lib = mod.ffi, mod.lib
        self.ffi, self.lib, self.n = ffi, lib, len(tape)
        buf = ffi.from_buffer
        g = lib.fl_graph_new(self.n, buf("int32_t[]", tape.op), buf("int32_t[]", tape.a),
                             buf("int32_t[]", tape.b), buf("double[]", tape.data))
        if g == ffi.NULL:
            raise MemoryError(f"floor graph of {self.n:,} nodes")
        self.g = ffi.gc(g, lib.fl_graph_free)
        self.split = ffi.new("double[2]")

    def backward(self, root):
        """root.backward(); returns (seconds sorting, seconds sweeping)."""
        self.lib.fl_backward(self.g, root, self.split)
        return self.split[0], self.split[1]

    def grads(self, ids):
        ids = list(ids)
        out = self.ffi.new("double[]", len(ids))
        self.lib.fl_grads(self.g, len(ids), self.ffi.new("int32_t[]", ids), out)
        return list(out)


def init_params(sizes, seed=1337):
    """micrograd's MLP initialisation, flat: after random.seed(seed), each
    neuron draws its weights from uniform(-1, 1), and its bias is 0."""
    random.seed(seed)
    params = []
    for nin, nout in zip(sizes, sizes[1:]):
        for _ in range(nout):
            params += [random.uniform(-1, 1) for _ in range(nin)] + [0.0]
    return params


class Trainer:
    """micrograd's demo step in train_step.c: an MLP over rows X (n, sizes[0])
    with labels y (-1 or +1), weights `params` (model.parameters() order)."""

    MAX_LAYERS, MAX_WIDTH = 8, 64           # train_step.c's fixed scratch

    def __init__(self, mod, sizes, params, X, y, alpha=1e-4):
        import numpy as np
        if not (1 <= len(sizes) - 1 <= self.MAX_LAYERS and sizes[-1] == 1
                and all(1 <= s <= self.MAX_WIDTH for s in sizes)):
            raise ValueError(f"the floor's MLP takes up to {self.MAX_LAYERS} layers of up to "
                             f"{self.MAX_WIDTH} units and one output, not {list(sizes)}")
        self.ffi, self.lib = mod.ffi, mod.lib
        self.sizes = self.ffi.new("int32_t[]", list(sizes))
        self.nlayers = len(sizes) - 1
        self.params = np.array(params, dtype=np.float64)
        self.grad = np.zeros_like(self.params)
        self.X = np.ascontiguousarray(X, dtype=np.float64)
        self.y = np.ascontiguousarray(y, dtype=np.float64)
        self.alpha = alpha
        buf = self.ffi.from_buffer
        self._p, self._g = buf("double[]", self.params), buf("double[]", self.grad)
        self._X, self._y = buf("double[]", self.X), buf("double[]", self.y)

    def step(self, lr):
        """One step; returns the loss before the update."""
        return self.lib.fl_train_step(self.nlayers, self.sizes, self._p, self._g, len(self.y),
                                      self._X, self._y, self.alpha, lr)

    def forward_batch(self, X, y, out):
        """out[r] = the hinge loss of row r (X: (n, sizes[0]) float64, C order)."""
        buf = self.ffi.from_buffer
        st = self.lib.fl_forward_batch(self.nlayers, self.sizes, self._p, len(y), buf("double[]", X),
                                       buf("double[]", y), buf("double[]", out, require_writable=True))
        assert st == 0, "sizes were checked in __init__"
        return out
