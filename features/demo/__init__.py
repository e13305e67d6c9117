"""Built-in demo corpus: RAVDESS-like clips of an animated real face with synthetic speech.

Modules: ``face`` (landmark animation and piecewise-affine warp), ``voice`` (speech synthesis),
``encode`` (mp4 writer), ``corpus`` (clip lists, sizes, determinism, :func:`generate_corpus`).
"""
