"""Infrastructure every stage uses (params, paths, store, runner, parallel map, problems).

Importing it pins torch's CPU arithmetic to the AVX2 code paths, before torch computes anything:
torch's own vector kernels (``ATEN_CPU_CAPABILITY``), oneDNN's (``ONEDNN_MAX_CPU_ISA``,
convolutions) and MKL's (``MKL_CBWR``, matrix products). Without the pin each library picks
AVX-512 where the CPU has it, which rounds differently, so the same code, data and params gave
other features and weights on an AVX-512 machine than on an AVX2 one (a clean clone of the
committed baseline: 82.81 % instead of 83.56 % accuracy). AVX2 is the widest set that every x86-64
CPU of the last decade has. Every stage imports this package first, so the pin is part of the
code every stage depends on (``features/core`` in dvc.yaml). A variable already set in the
environment wins (e.g. ``ATEN_CPU_CAPABILITY=avx512`` to trade reproducibility across machines
for speed). docs/experiments.md "Reproduction and tolerance" has the measurements.
"""

import os

CPU_ISA_PIN = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}
for _key, _value in CPU_ISA_PIN.items():
    os.environ.setdefault(_key, _value)
