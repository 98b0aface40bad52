# setuptools has no pyproject field for cffi modules; this shim only registers the builder.
from setuptools import setup

setup(cffi_modules=["build.py:ffibuilder"])
