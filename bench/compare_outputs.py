"""Compare two runs of bench/run_tiny_features.sh byte for byte (feature HDF5 files, OpenFace CSVs,
manifest slices): ``python bench/compare_outputs.py /tmp/run_orig /tmp/run_new``."""

from __future__ import annotations

import sys
from pathlib import Path


def main(a: str, b: str) -> int:
    a_root, b_root = Path(a) / "data", Path(b) / "data"
    groups = {"features": "features/**/*.h5", "openface": "openface/**/*.csv",
              "manifest": "manifest_by_actor/*.parquet"}
    bad = 0
    for name, pattern in groups.items():
        fa = sorted(p.relative_to(a_root) for p in a_root.glob(pattern))
        fb = sorted(p.relative_to(b_root) for p in b_root.glob(pattern))
        same = [p for p in fa if p in fb and (a_root / p).read_bytes() == (b_root / p).read_bytes()]
        diff = sorted(set(fa) ^ set(fb)) + [p for p in fa if p in fb and p not in same]
        bad += len(diff)
        print(f"{name}: {len(same)}/{len(fa)} files identical"
              + (f"; differ or missing: {[str(p) for p in diff]}" if diff else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
