"""The C engine's side of compiled programs: a graph flattened by
csrc/program.c and replayed there on many rows (see pygrad/compiled.py)."""
from ._cbuf import doubles
from ._errors import EGUARD
from ._ffi import check, check_id, ffi, lib
from ._trace import GuardFailed


class CCode:
    """A graph flattened into a C program. Each run gets its own out-
    parameters, so threads may share one (calls into C hold the GIL)."""

    def __init__(self, root, inputs, params, guards=(), exact=True, trace=None):
        # The cell that pg_compile fills owns the program from before the
        # call: Ctrl-C strikes right after a call returns, and a program
        # not yet owned there would hold its leaves (and memory) for good.
        self.ninputs = len(inputs)
        spec, consts = [], []
        for g in guards:   # a, b (-1: the number c), comparison, outcome
            spec += [g.a._id, -1 if g.b is None else g.b._id, g.cmp, int(g.outcome)]
            consts.append(g.c)
        cell = ffi.gc(ffi.new("pg_program **"), lib.pygrad_free_program_cell)   # (C: see _build.py)
        customs = []   # per user's op a trace recorded: node, data, local grads
        for c in trace.customs if trace is not None else ():
            customs += [c.node._id, c.data._id] + [g._id for g in c.local_grads]
        st = lib.pg_compile_custom(root._id, len(inputs), [v._id for v in inputs],
                                   len(params), [p._id for p in params],
                                   len(guards), spec or ffi.NULL, consts or ffi.NULL,
                                   len(trace.customs) if customs else 0, customs or ffi.NULL, len(customs), cell)
        if st == lib.PG_ECUSTOM:
            from .compiled import custom_op_error
            raise custom_op_error(root, trace)
        check(st, "compile")
        self._cell, self._p = cell, cell[0]   # _p: valid while _cell lives
        if not exact:
            check(lib.pg_program_set_exact(self._p, 0), "compile")

    def depends(self):
        return bool(lib.pg_program_depends(self._p))

    def __len__(self):
        return lib.pg_program_size(self._p)

    def held_constants(self):
        """Constants that something outside the graph holds (see compile's strict)."""
        from .cengine import _handle
        n = lib.pg_program_held_constants(self._p, 0, ffi.NULL)
        ids = ffi.new("int32_t[]", max(n, 1))
        check_id(lib.pg_program_held_constants(self._p, n, ids), "compile")
        return [_handle(i) for i in ids[0:n]]

    def run(self, batch, out, backward, scale, row0=0):
        """batch: C-contiguous float64 (n, ninputs); out: float64 (n,); row0:
        the first row's number in the caller's batch (for messages)."""
        n = len(out)
        self._call(n, doubles(batch, n * self.ninputs, "batch"), doubles(out, n, "out", True), backward, scale,
                   row0)

    def run_arrays(self, batch, out, backward, scale, row0=0):
        """run() for the arrays Program made itself (float64, contiguous, the
        right shapes: Program._batch and numpy.empty), without checking them
        again (a check costs ~2 us, a few percent of a small batch's run)."""
        self._call(len(out), self._from_buffer("double[]", batch), self._from_buffer("double[]", out),
                   backward, scale, row0)

    _from_buffer = ffi.from_buffer

    def run_row(self, row, backward, scale):
        """One row given as a list of floats; returns the root's value."""
        out = ffi.new("double[1]")
        self._call(1, ffi.new("double[]", row) if row else ffi.NULL, out, backward, scale)
        return out[0]

    def _call(self, nrows, batch, out, backward, scale, row0=0):
        bad_row = ffi.new("int64_t *")
        st = lib.pg_program_run(self._p, nrows, batch, out, 1 if backward else 0, scale, bad_row)
        if st == EGUARD:
            raise GuardFailed(bad_row[0], lib.pg_program_failed_guard(self._p))
        check(st, f"row {row0 + bad_row[0]}" if bad_row[0] >= 0 else "compiled run")
