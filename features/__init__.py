"""Pure, importable logic of the pipeline: I/O, tracking, feature recipes, demo corpus.

Importing any part of it first imports :mod:`features.core`, which pins torch's CPU kernels to
AVX2 before torch loads (reproducible results across machines; see its docstring).
"""

import features.core  # noqa: F401  (the CPU kernel pin must precede any torch import)
