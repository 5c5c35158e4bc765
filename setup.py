"""Builds the optional Cython kernels. The package installs and works without them: when Cython or a C compiler
is missing, or the build fails, the ``cython`` kernel backend is simply unavailable (it says why at run time)."""

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

PYX = "src/sightspeed/kernels/_cy/kernels_cy.pyx"


class OptionalBuildExt(build_ext):
    """Try OpenMP, then no OpenMP, then give up quietly (warning on stderr)."""

    def build_extension(self, ext):
        for flags in (["-fopenmp"], []):
            ext.extra_compile_args = ["-O3"] + flags
            ext.extra_link_args = list(flags)
            try:
                return super().build_extension(ext)
            except Exception as exc:  # noqa: BLE001 - any compiler failure means "no cython backend"
                error = exc
        print(f"sightspeed: the optional Cython kernels were not built ({error}); "
              "the cython backend will be unavailable", file=sys.stderr)

    def run(self):
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001
            print(f"sightspeed: skipping the optional Cython kernels ({exc})", file=sys.stderr)


def extensions():
    if os.environ.get("SIGHTSPEED_NO_CYTHON"):
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        print("sightspeed: Cython not available; the cython backend will be unavailable", file=sys.stderr)
        return []
    ext = Extension("sightspeed.kernels._cy.kernels_cy", [PYX], include_dirs=[os.path.dirname(PYX)],
                    depends=[os.path.join(os.path.dirname(PYX), h) for h in ("resize_rows.h", "blend_rows.h")])
    return cythonize([ext], quiet=True, language_level=3)


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
