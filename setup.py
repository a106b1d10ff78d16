"""Builds the one Cython extension, labelmap._core; everything else is in pyproject.toml."""

from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = [
    Extension(
        "labelmap._core",
        ["labelmap/_core.pyx"],
        depends=["labelmap/_tiles.pxi", "labelmap/_rle.pxi", "labelmap/_walk.pxi"],
        extra_compile_args=["-O3"],
    )
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "initializedcheck": False,
            "cdivision": True,
            "embedsignature": True,
        },
    )
)
