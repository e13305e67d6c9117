"""Time the visual feature stages (crops, kpd, facs) on a synthetic actor and report HDF5 sizes.

The actor is the one the stage tests build (``tests/test_kpd_stages.py``): real H.264 videos
(ffmpeg test pattern) of the requested size and hand-built OpenFace CSVs, 5 test clips plus
``--clips`` extra 3.2 s clips. Each stage runs in-process from a temporary working directory.

    python bench/bench_visual.py --clips 8 --size 1280x720 --jobs 2
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from conftest import make_clip  # noqa: E402
from test_kpd_stages import ACTOR, build_actor  # noqa: E402

from features.core.config import dump_params  # noqa: E402
from features.core.paths import feature_file  # noqa: E402
from features.core.store import list_ids  # noqa: E402

RUNS = [("crops", ["ACTOR"], ["crops_eyes", "crops_mouth", "crops_face"]),
        ("kpd", ["face", "ACTOR"], ["kpd_face"]), ("kpd", ["eyes", "ACTOR"], ["kpd_eyes"]),
        ("facs", ["au", "ACTOR"], ["au"]), ("facs", ["pose", "ACTOR"], ["pose"]),
        ("facs", ["gaze", "ACTOR"], ["gaze"]), ("facs", ["gaze_stats", "ACTOR"], ["gaze_stats"])]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=8, help="extra 3.2 s clips (max 25)")
    ap.add_argument("--size", default="1280x720", help="video size WxH (RAVDESS: 1280x720)")
    ap.add_argument("--jobs", type=int, default=2, help="compute.jobs")
    args = ap.parse_args(argv)
    import importlib
    with tempfile.TemporaryDirectory(prefix="bench-visual-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        build_actor(root, make_clip, size=args.size, n_extra=args.clips)
        print(f"built synthetic actor ({args.clips + 5} clips, {args.size}) in "
              f"{time.perf_counter() - t0:.1f} s")
        params = yaml.safe_load((root / "params.yaml").read_text())
        params["compute"]["jobs"] = args.jobs
        (root / "params.yaml").write_text(dump_params(params))
        cwd = os.getcwd()
        os.chdir(root)
        try:
            print(f"{'stage':<22}{'clips':>6}{'wall s':>9}{'s/clip':>8}   HDF5 size per clip")
            for module, argv_t, feats in RUNS:
                stage = importlib.import_module(f"stages.{module}")
                stage_argv = [ACTOR if a == "ACTOR" else a for a in argv_t]
                t0 = time.perf_counter()
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    stage.main(stage_argv)
                wall = time.perf_counter() - t0
                n = len(list_ids(feature_file(feats[0], ACTOR)))
                sizes = ", ".join(f"{f} {feature_file(f, ACTOR).stat().st_size / n / 1024:.0f} KiB"
                                  for f in feats)
                print(f"{module + ' ' + ' '.join(stage_argv):<22}{n:>6}{wall:>9.2f}{wall / n:>8.3f}   {sizes}")
        finally:
            os.chdir(cwd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
