"""Stage demo: params ``demo`` -> ``data/demo/corpus`` (RAVDESS-like clips) and ``data/demo/truth``.

Everything is written into a temporary folder beside ``data/demo`` and moved into place only when
the whole corpus is done, so an interrupted run never leaves a partial corpus behind.

    python -m stages.demo [--params params.yaml] [--out data/demo]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from features.core.atomic import replace_dir
from features.core.cli import run_stage
from features.core.config import ParamsError, get, load_params
from features.core.paths import DEMO_DIR
from features.demo.corpus import generate_corpus
from features.demo.style import Difficulty


def demo_settings(params: dict) -> dict:
    """The ``demo`` section (checked by the params schema): seed, size, width, height, fps, jobs, difficulty."""
    s = {"seed": int(get(params, "demo.seed")), "size": str(get(params, "demo.size")),
         "width": int(get(params, "demo.width")), "height": int(get(params, "demo.height")),
         "fps": float(get(params, "demo.fps")), "jobs": int(get(params, "demo.jobs", 2))}
    try:
        s["difficulty"] = Difficulty.from_params(get(params, "demo.difficulty", {}))
    except ValueError as exc:
        raise ParamsError(str(exc)) from None
    return s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml", help="params file (section demo)")
    parser.add_argument("--out", default=str(DEMO_DIR), help="output folder (corpus/, truth/)")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    s = demo_settings(load_params(args.params))
    final = Path(args.out)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    tmp.chmod(0o755)
    try:
        paths = generate_corpus(tmp / "corpus", tmp / "truth", size=s["size"], seed=s["seed"],
                                width=s["width"], height=s["height"], fps=s["fps"], jobs=s["jobs"],
                                difficulty=s["difficulty"])
        replace_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    elapsed = time.perf_counter() - t0
    print(f"demo: {len(paths)} clips ({s['size']}, {s['width']}x{s['height']} at {s['fps']:g} fps, "
          f"seed {s['seed']}, {s['jobs']} jobs) in {elapsed:.1f} s -> {final}/corpus, {final}/truth")
    return 0


if __name__ == "__main__":
    run_stage(main)
