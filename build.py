"""cffi out-of-line API-mode builder for the C core: csrc/*.c -> dsp._voicecore.

`python build.py` compiles the extension in place (dsp/_voicecore.*.so);
`pip install` builds it through setup.py's ``cffi_modules``.
"""

from __future__ import annotations

import os
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
CSRC = HERE / "csrc"

if __name__ == "__main__":
    # Build in place from anywhere: sources and output are relative to the project.
    os.chdir(HERE)


def _rel(path: Path) -> str:
    # setuptools wants source paths relative to the project; relative to the
    # working directory keeps `python /elsewhere/build.py` working too.
    return os.path.relpath(path, Path.cwd())


ffibuilder = FFI()
ffibuilder.cdef((CSRC / "voicecore.cdef").read_text(encoding="utf-8"))
ffibuilder.set_source(
    "dsp._voicecore",
    '#include "voicecore.h"',
    sources=[_rel(CSRC / "vad.c"), _rel(CSRC / "pacer.c"), _rel(CSRC / "pacetimer.c")],
    include_dirs=[_rel(CSRC)],
    libraries=["m"],
    # One file name for both build paths (pip and `python build.py`), so a
    # stale extension can never shadow a fresh one.
    py_limited_api=False,
    # No -ffast-math: levels must be identical run to run and machine to machine.
    extra_compile_args=[
        "-O2",
        # The energy loop is exact integer arithmetic, so vectorizing it is safe.
        "-ftree-vectorize",
        "-fvect-cost-model=cheap",
        "-std=c99",
        "-Wall",
        "-Wextra",
    ],
)

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=".", verbose=False)
    # Objects land next to their sources; only the extension is wanted.
    for obj in [*CSRC.glob("*.o"), *(HERE / "dsp").glob("*.o")]:
        obj.unlink()
