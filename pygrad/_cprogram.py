"""The C engine's side of compiled programs: a graph flattened by
csrc/program.c and replayed there on many rows (see pygrad/compiled.py)."""
from ._errors import EGUARD
from ._ffi import check, check_id, ffi, lib
from ._trace import GuardFailed


class CCode:
    """A graph flattened into a C program. Each run gets its own out-
    parameters, so threads may share one (calls into C hold the GIL)."""

    def __init__(self, root, inputs, params, guards=(), exact=True):
        out = ffi.new("pg_program **")
        spec, consts = [], []
        for g in guards:   # a, b (-1: the number c), comparison, outcome
            spec += [g.a._id, -1 if g.b is None else g.b._id, g.cmp, int(g.outcome)]
            consts.append(g.c)
        check(lib.pg_compile_guarded(root._id, len(inputs), [v._id for v in inputs],
                                     len(params), [p._id for p in params],
                                     len(guards), spec or ffi.NULL, consts or ffi.NULL, out), "compile")
        self._p = ffi.gc(out[0], lib.pg_program_free)
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
        self._call(len(out), ffi.from_buffer("double[]", batch),
                   ffi.from_buffer("double[]", out, require_writable=True), backward, scale, row0)

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
