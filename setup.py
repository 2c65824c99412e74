"""Builds pygrad's C core (cffi, API mode) as an optional speed-up.

Metadata lives in pyproject.toml; this file only names the cffi build and
decides what a failed build means. As markupsafe and pyyaml do, a machine
without a working C compiler still gets pygrad, with its pure-Python engine:

    PYGRAD_BUILD_C unset   try the build; if it fails, warn and install without it
    PYGRAD_BUILD_C=1       the C core is required: a failed build fails the install
    PYGRAD_BUILD_C=0       do not try (pure-Python install)

The reason a build failed or was skipped is written into the installed
package (pygrad/_no_core.txt), so the warning pygrad gives at import names it.

cffi builds against the stable ABI (the module is _pygrad.abi3.so), so the
CPython wheel is tagged abi3: one wheel serves CPython 3.9 and later.
"""
import os
import re
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

MODE = os.environ.get("PYGRAD_BUILD_C", "").strip()
NO_CORE_FILE = "_no_core.txt"   # read by pygrad/_coreinfo.py
CONSEQUENCE = ("pygrad is installed without its C core: the default engine is the pure-Python one, "
               "with the same results but 10-100x slower")


def _banner(reason):
    line = "=" * 78
    sys.stderr.write(f"\n{line}\nWARNING: pygrad's C core was not built: {reason}\n{CONSEQUENCE}.\n"
                     "Install a C compiler (and the Python headers) and reinstall to get it; "
                     "PYGRAD_BUILD_C=1 makes a failed build an error.\n"
                     f"{line}\n\n")


def _short(exc):
    """The failure in one line: a failed compiler command is named, not listed."""
    text = " ".join(str(exc).split())
    command = re.match(r"command '?\[?'([^']+)'.*(returned non-zero exit status \d+|failed.*)", text, re.I)
    if command:
        text = f"the compiler command {command.group(1)!r} {command.group(2).rstrip('.')}"
    return f"{type(exc).__name__}: {text}"


class optional_build_ext(build_ext):
    """build_ext whose failure (no compiler, compile error) is a warning,
    unless PYGRAD_BUILD_C=1."""

    def run(self):
        self._reason = None
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001  any build failure: a compiler missing or failing
            self._failed(exc)
        self._record(self._reason)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            self._failed(exc)

    def _failed(self, exc):
        if MODE == "1":
            raise exc
        if self._reason is None:   # one warning, for the first failure
            reason = _short(exc)
            _banner(reason)
            self._reason = f"the build failed ({reason})"

    def _record(self, reason):
        """Leave the reason beside the package (or remove a stale one)."""
        folder = os.path.dirname(self.get_ext_fullpath("pygrad._pygrad"))
        path = os.path.join(folder, NO_CORE_FILE)
        if reason is None:
            if os.path.exists(path):
                os.remove(path)
            return
        os.makedirs(folder, exist_ok=True)
        with open(path, "w") as f:
            f.write(reason + "\n")


class skipped_build_ext(optional_build_ext):
    """PYGRAD_BUILD_C=0: build nothing, and say so in the package."""

    def run(self):
        self._record("PYGRAD_BUILD_C=0 was set when pygrad was installed")


if MODE not in ("", "0", "1"):
    sys.exit(f"PYGRAD_BUILD_C must be 0, 1 or unset, not {MODE!r}")

setup(
    # Named even when skipped, so that build_ext runs and records why.
    cffi_modules=["pygrad/_build.py:ffibuilder"],
    cmdclass={"build_ext": skipped_build_ext if MODE == "0" else optional_build_ext},
    options={"bdist_wheel": {"py_limited_api": "cp39"}},
)
