"""The C engine's fused dense layer: `cengine.Value.dense(rows, biases)`.

Packs the weight and bias ids once; each call converts only the inputs and
makes, in one C call (pg_dense), for each row b + w . xs (then relu'd). The
object is read-only after construction and each call gets its own output
buffer, so threads may share one.
"""
from ._api import as_value
from ._errors import error
from ._ffi import Handle, ffi, lib
from .cengine import _PY, Value, _new, _own

# The C handle does a call's glue in C (ids in, handles out: one call);
# the Python below serves the Python handle and inputs that are not all
# plain Values (numbers, subclasses).
_c_dense = None if _PY else Handle._dense


class Dense:
    """`Dense(rows, biases)(xs, relu=False)`: a list of Values, one per row."""

    __slots__ = ("params", "nout", "nin", "w_ids", "b_ids", "packed")

    def __init__(self, rows, biases):
        rows = [list(r) for r in rows]
        biases = list(biases)
        self.nout, self.nin = len(rows), (len(rows[0]) if rows else 0)
        if len(biases) != self.nout or any(len(r) != self.nin for r in rows):
            raise ValueError("dense: every row needs the same number of weights, and one bias per row")
        # Holding the Values keeps their nodes, and so the packed ids, alive.
        self.params = [as_value(Value, v) for r in rows for v in r] + [as_value(Value, v) for v in biases]
        ids = [p._id for p in self.params]
        self.w_ids = ffi.new("int32_t[]", ids[:self.nout * self.nin])
        self.b_ids = ffi.new("int32_t[]", ids[self.nout * self.nin:])
        self.packed = ffi.buffer(self.w_ids)[:] + ffi.buffer(self.b_ids)[:]   # the same ids, for _c_dense

    def __call__(self, xs, relu=False):
        if _c_dense is not None:
            got = _c_dense(self.packed, self.nout, self.nin, xs, relu)
            if type(got) is list:
                return got
            if got is not None:
                raise error(got, "dense")
        if type(xs) is not list:
            xs = list(xs)
        ids = [v._id if type(v) is Value else -1 for v in xs]
        if -1 in ids:    # numbers become leaves, kept alive until the call is done
            xs = [as_value(Value, v) for v in xs]
            ids = [v._id for v in xs]
        if len(ids) != self.nin:
            raise ValueError(f"dense: {self.nin} weights per row but {len(ids)} inputs")
        out = ffi.new("int32_t[]", self.nout)      # per call: threads may share this object
        # Ctrl-C may strike right after a call returns (see cengine.py): until
        # a handle holds each new node, an interrupt releases the rest.
        made = []
        try:
            st = lib.pg_dense(self.nout, self.nin, self.w_ids, ids, self.b_ids, 1 if relu else 0, out)
            made = ffi.unpack(out, self.nout)   # all -1 on error
        except BaseException:
            _release(ffi.unpack(out, self.nout))
            raise
        if st:
            raise error(st, "dense")
        values, held = [], 0
        try:
            for node_id in made:    # handles on the new nodes, whose references are ours
                v = _new(Value)
                _own(v, node_id)
                held += 1
                values.append(v)
        except BaseException:
            _release(made[held:])
            raise
        return values


def _release(ids):
    for node_id in ids:
        if node_id >= 0:
            lib.pg_decref(node_id)
