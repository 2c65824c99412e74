"""The op table shared by both engines: op codes, operator names, op labels.

The codes mirror `enum pg_op` in csrc/pygrad.h (a test checks they match);
the reference engine uses them too, so both engines speak of ops alike.
"""

OPS = ("leaf", "add", "mul", "sub", "div", "pow", "powk", "neg",
       "relu", "tanh", "exp", "log", "sigmoid", "sum", "dot")
(LEAF, ADD, MUL, SUB, DIV, POW, POWK, NEG,
 RELU, TANH, EXP, LOG, SIGMOID, SUM, DOT) = range(len(OPS))

# Binary operators: dunder stem -> (op for Value op Value, op when the right
# operand is a plain number). Each also gets its reflected form (__radd__ ...).
BINARY = {
    "add": (ADD, ADD),
    "sub": (SUB, SUB),
    "mul": (MUL, MUL),
    "truediv": (DIV, DIV),
    "pow": (POW, POWK),   # x ** 2 keeps 2 a constant, as micrograd does
}

UNARY = {"__neg__": NEG, "relu": RELU, "tanh": TANH, "exp": EXP, "log": LOG, "sigmoid": SIGMOID}

# The tutorial's method names for the same operators.
ALIASES = {"plus": "__add__", "times": "__mul__", "minus": "__sub__",
           "divide": "__truediv__", "pow": "__pow__"}

# Docstrings for the generated methods.
SYMBOLS = {"add": "+", "sub": "-", "mul": "*", "truediv": "/", "pow": "**"}
UNARY_DOCS = {
    "__neg__": "-x",
    "relu": "max(0, x), as micrograd's ReLU (gradient 0 at 0)",
    "tanh": "tanh(x)",
    "exp": "e ** x; OverflowError where Python's math.exp overflows",
    "log": "The natural logarithm; ValueError for x <= 0",
    "sigmoid": "1 / (1 + e ** -x), computed so that it never overflows",
}

# micrograd's op strings, where micrograd has the op.
LABELS = {LEAF: "", ADD: "+", MUL: "*", SUB: "-", DIV: "/", POW: "**", NEG: "neg",
          RELU: "ReLU", TANH: "tanh", EXP: "exp", LOG: "log", SIGMOID: "sigmoid",
          SUM: "sum", DOT: "dot"}


def label(op, exponent=None):
    """micrograd's `_op` string; `x ** 2` is '**2'."""
    if op == POWK:
        return "**" + (str(int(exponent)) if float(exponent).is_integer() else repr(exponent))
    return LABELS[op]
