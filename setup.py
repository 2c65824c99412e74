from setuptools import setup

# Metadata lives in pyproject.toml; this file only names the cffi build.
# cffi builds against the stable ABI (the module is _pygrad.abi3.so), so the
# wheel is tagged abi3: one wheel serves CPython 3.9 and later.
setup(
    cffi_modules=["pygrad/_build.py:ffibuilder"],
    options={"bdist_wheel": {"py_limited_api": "cp39"}},
)
