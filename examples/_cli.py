"""The examples' command lines, written once: the flags every example shares
(--seed, --engine, --plot), `--help` with every default, and value checks
that refuse a bad flag with one line on stderr (exit status 2) before any
work starts.

    parser = _cli.Parser(__doc__, seed=1337, plot="save the loss curve")
    parser.add_argument("--steps", type=_cli.positive_int, default=100, help="training steps")
    args = parser.parse_args()      # also seeds the generators and selects the engine
"""
import argparse
import math
import os
import random

import pygrad


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """One line per flag with its default, unless the help gives it itself
    or there is none to give (an on/off switch, an optional path)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "%(default)" not in text and not any(action.default is x for x in (None, False, argparse.SUPPRESS)):
            text += " (default: %(default)s)"
        return text


class Parser(argparse.ArgumentParser):
    """An example's parser with the shared flags. `seed`: this example's
    default seed; `plot`: what --plot saves (None: no --plot flag)."""

    def __init__(self, doc, seed, plot=None, seed_help=""):
        super().__init__(description=doc.split("\n\n")[0], formatter_class=_Formatter)
        self.add_argument("--seed", type=int, default=seed,
                          help="seeds Python's random and numpy's generator, once, before any data or "
                               "weights are drawn" + seed_help)
        self.add_argument("--engine", choices=sorted(pygrad.ENGINES),
                          help="the pygrad engine (default: PYGRAD_ENGINE, else c)")
        if plot:
            self.add_argument("--plot", metavar="PATH", type=png_path,
                              help=f"{plot}, as a PNG at PATH (needs matplotlib)")

    def error(self, message):
        # One clear line, without argparse's usage block above it.
        self.exit(2, f"{self.prog}: error: {message}\n")

    def parse_args(self, args=None, namespace=None):
        """The arguments, checked; then the engine is chosen and the
        generators seeded, so everything after starts from them."""
        parsed = super().parse_args(args, namespace)
        if parsed.engine:
            pygrad.use_engine(parsed.engine)
        seed_everything(parsed.seed)
        return parsed


def seed_everything(seed):
    """Python's random and, when numpy is installed, numpy's global generator."""
    random.seed(seed)
    try:
        import numpy
    except ImportError:
        return
    numpy.random.seed(seed % 2**32)


# -- value types: each raises argparse's error, which becomes one line --------


def positive_int(text):
    """A whole number >= 1 (steps, workers, ...)."""
    return _int_at_least(text, 1)


def count(text):
    """A whole number >= 0 (samples, ...)."""
    return _int_at_least(text, 0)


def _int_at_least(text, low):
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if n < low:
        raise argparse.ArgumentTypeError(f"must be at least {low}, got {n}")
    return n


def _number(text, ok, wanted):
    """float(text) if ok(it), else one line naming what was wanted."""
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not ok(x):
        raise argparse.ArgumentTypeError(f"must be {wanted}, got {text}")
    return x


def finite_float(text):
    """Any finite number (a starting point, ...)."""
    return _number(text, math.isfinite, "a finite number")


def positive_float(text):
    """A finite number > 0 (learning rates)."""
    return _number(text, lambda x: math.isfinite(x) and x > 0, "a finite number > 0")


def existing_file(text):
    """A path to a readable file."""
    if not os.path.isfile(text):
        raise argparse.ArgumentTypeError(f"no such file: {text}")
    return text


def png_path(text):
    """Where a plot goes: a .png path in a folder that exists (checked now,
    not after the training, when saving it would fail)."""
    folder = os.path.dirname(text) or "."
    if not os.path.isdir(folder):
        raise argparse.ArgumentTypeError(f"folder {folder!r} does not exist")
    if not text.lower().endswith(".png"):
        raise argparse.ArgumentTypeError(f"the plot is a PNG: the path must end in .png, got {text!r}")
    return text
