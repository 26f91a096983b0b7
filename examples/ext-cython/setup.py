"""The extension: one Cython module compiled against gilfree's runtime API.

``gilfree.get_include()`` is the directory of ``gilfree.h``; Cython finds the declarations,
``gilfree/runtime.pxd``, on ``sys.path`` by itself.
"""

from Cython.Build import cythonize
from setuptools import Extension, setup

import gilfree

extensions = [
    Extension(
        "gilfree_cython_example._primes",
        ["src/gilfree_cython_example/_primes.pyx"],
        include_dirs=[gilfree.get_include()],
    )
]

setup(ext_modules=cythonize(extensions, compiler_directives={"language_level": 3}))
