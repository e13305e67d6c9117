"""Thin DVC stage entry points: read params.yaml, loop, write the declared outputs.

Importing this package (every ``python -m stages.X`` does, before torch loads) pins torch's CPU
arithmetic to the AVX2 code paths: torch's own vector kernels (``ATEN_CPU_CAPABILITY``), oneDNN's
(``ONEDNN_MAX_CPU_ISA``, convolutions) and MKL's (``MKL_CBWR``, matrix products). Without the pin
each library picks AVX-512 where the CPU has it, which rounds differently, so the same code, data
and params trained other weights on an AVX-512 machine than on an AVX2 one (a fresh clone of the
committed baseline gave 82.81 % instead of 83.56 % accuracy). AVX2 is the widest set that every
x86-64 CPU of the last decade has; the cost on AVX-512 machines is measured in
docs/reproducibility.md. A variable already set in the environment wins (``ATEN_CPU_CAPABILITY=
avx512`` etc. to trade reproducibility across machines for speed).
"""

import os

CPU_ISA_PIN = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}
for _key, _value in CPU_ISA_PIN.items():
    os.environ.setdefault(_key, _value)
