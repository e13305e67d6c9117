"""Thin DVC stage entry points: read params.yaml, loop, write the declared outputs.

Each stage imports :mod:`features.core` first, which pins torch's CPU kernels to AVX2 for
reproducible results across machines (see its docstring).
"""
