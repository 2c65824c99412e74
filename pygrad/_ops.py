"""The ops both engines know: one row per op, in the order of csrc/ops.def.

An op's code is its row's index (the C core numbers ops the same way; a
test compares this list with the core's `pg_op_name` list, and with the
reference engine's RULES). The operator methods are written once in
_api.ValueBase; `method` names the one that backs each op (the C engine
binds its fast versions by these names).
"""
from typing import Dict, NamedTuple, Optional, Tuple


class Op(NamedTuple):
    name: str              # ops.def's NAME, in lower case
    arity: int             # children; -1 for n-ary ops
    label: str             # micrograd's `_op` string
    method: Optional[str]  # the Value method it backs: a dunder stem for binary ops


TABLE: Tuple[Op, ...] = (
    Op("leaf", 0, "", None),
    Op("add", 2, "+", "add"),
    Op("mul", 2, "*", "mul"),
    Op("sub", 2, "-", "sub"),
    Op("div", 2, "/", "truediv"),
    Op("pow", 2, "**", "pow"),
    Op("powk", 2, "**", None),      # x ** k with k a number: k stays a constant, as in micrograd
    Op("neg", 1, "neg", "__neg__"),
    Op("relu", 1, "ReLU", "relu"),
    Op("tanh", 1, "tanh", "tanh"),
    Op("exp", 1, "exp", "exp"),
    Op("log", 1, "log", "log"),
    Op("sigmoid", 1, "sigmoid", "sigmoid"),
    Op("abs", 1, "abs", "__abs__"),
    Op("sqrt", 1, "sqrt", "sqrt"),
    Op("sin", 1, "sin", "sin"),
    Op("cos", 1, "cos", "cos"),
    Op("sum", -1, "sum", None),
    Op("dot", -1, "dot", None),
    Op("select", -1, "select", None),     # children: index, values...
    Op("maxdata", -1, "max_data", None),  # max of the children's data; no gradient
    Op("custom", -1, "", None),    # a user's op, microgpt's form: Value(data, children, local_grads)
    Op("hook", -1, "", None),      # a user's op, micrograd's form: Value(data, children, op) and its _backward
)

OPS = tuple(op.name for op in TABLE)
CODES: Dict[str, int] = {name: code for code, name in enumerate(OPS)}
LEAF, POW, POWK, SUM, DOT, SELECT, MAXDATA, CUSTOM, HOOK = (
    CODES[name] for name in ("leaf", "pow", "powk", "sum", "dot", "select", "maxdata", "custom", "hook"))

# Binary operators: dunder stem -> (op for Value op Value, op when the other
# operand is a plain number: `<name>k` if the table has one). Each also gets
# its reflected form (__radd__ ...).
BINARY = {op.method: (code, CODES.get(op.name + "k", code))
          for code, op in enumerate(TABLE) if op.arity == 2 and op.method}

# Unary methods: name -> op code.
UNARY = {op.method: code for code, op in enumerate(TABLE) if op.arity == 1 and op.method}

# micrograd's op strings, where micrograd has the op.
LABELS = {code: op.label for code, op in enumerate(TABLE)}


def label(op, exponent=None):
    """micrograd's `_op` string; `x ** 2` is '**2'."""
    if op == POWK:
        return "**" + (str(int(exponent)) if float(exponent).is_integer() else repr(exponent))
    return LABELS[op]
