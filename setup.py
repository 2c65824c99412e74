from setuptools import setup

# Metadata lives in pyproject.toml; this file only names the cffi build.
setup(cffi_modules=["pygrad/_build.py:ffibuilder"])
