"""Benchmark of the load-once runner (issue 10): input reads per clip and wall time of the facs,
kpd and audio stage groups, before (a checkout of the original commit) and after (this checkout),
measured in one run on the same demo data.

    git worktree add /tmp/orig 49801fd
    python bench/bench_runner.py --before /tmp/orig --size default --actors 01,02

Steps: one project copy generates the demo corpus (``demo.size``, the selected actors only),
ingests it and tracks it
(OpenFace CSVs); each checkout then gets a copy of its own code with hard links to that data and
runs, in one Python process, ``stages.kpd face,eyes``, ``stages.facs au,pose,gaze,gaze_stats``
and ``stages.audio lms,mfcc`` for every actor (``compute.jobs`` as given, default 1: the machine
is shared). Calls are counted by wrapping the functions wherever a loaded module holds them:
the OpenFace CSV parser ``read_openface``, the file hash ``sha256_file`` and the audio decoder
``decode_audio`` (found in either layout). Per-clip counts are calls / clips in the manifest.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

DRIVER = r'''
import importlib, json, os, sys, threading, time
from collections import Counter
sys.path.insert(0, ".")
actors = sys.argv[1].split(",")
import pandas as pd
import stages.facs, stages.kpd, stages.audio

def find(modules, name):
    for m in modules:
        try:
            mod = importlib.import_module(m)
        except ImportError:
            continue
        # only this checkout's modules (an editable install may offer the other layout too)
        if hasattr(mod, name) and os.path.abspath(mod.__file__).startswith(os.getcwd()):
            return getattr(mod, name)
    raise SystemExit(f"{name} not found in {modules}")

counts, lock = Counter(), threading.Lock()
targets = {
    "csv_parses": find(["features.tracks.openface", "features.openface"], "read_openface"),
    "csv_hashes": find(["features.core.hashing", "features.fingerprint"], "sha256_file"),
    "audio_decodes": find(["features.media.audio", "features.audio"], "decode_audio"),
}
def wrap(key, fn):
    def counted(*a, **k):
        with lock:
            counts[key] += 1
        return fn(*a, **k)
    return counted
def patch(key, original):
    counted = wrap(key, original)
    for mod in list(sys.modules.values()):
        if mod is None or mod.__name__ == "__main__":
            continue
        for attr, value in list(vars(mod).items()):
            if value is original:
                setattr(mod, attr, counted)
for key, original in targets.items():
    patch(key, original)

clips = sum(len(pd.read_parquet(f"data/manifest_by_actor/Actor_{a}.parquet")) for a in actors)
groups = {"kpd": (stages.kpd.main, "face,eyes"), "facs": (stages.facs.main, "au,pose,gaze,gaze_stats"),
          "audio": (stages.audio.main, "lms,mfcc")}
out = {"clips": clips}
for name, (main, what) in groups.items():
    counts.clear()
    t0 = time.perf_counter()
    for a in actors:
        main([what, a])
    out[name] = {"seconds": round(time.perf_counter() - t0, 2),
                 **{k: round(v / clips, 3) for k, v in counts.items()}}
json.dump(out, open("bench_result.json", "w"))
'''


def copy_sources(src: Path, dest: Path) -> None:
    """The checkout's tracked and untracked-not-ignored files, without data/ and reports/."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=src,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        if rel.startswith(("data/", "reports/")) or not (src / rel).is_file():
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / rel, dest / rel)


def set_params(root: Path, size: str, actors: list[str], jobs: int) -> None:
    import yaml

    from features.core.config import dump_params
    path = root / "params.yaml"
    p = yaml.safe_load(path.read_text())
    p["demo"].update(size=size, jobs=max(1, jobs))
    p["dataset"]["actors"] = actors
    p["compute"]["jobs"] = jobs
    path.write_text(dump_params(p))


def sh(cmd: list[str], cwd: Path, log: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(cwd)}
    with log.open("a") as fh:
        subprocess.run(cmd, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT, check=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, required=True, help="checkout of the original commit")
    ap.add_argument("--size", default="default", help="demo.size: tiny | default | full")
    ap.add_argument("--actors", default="01,02,03,04")
    ap.add_argument("--jobs", type=int, default=1, help="compute.jobs of the measured stages")
    ap.add_argument("--prep-jobs", type=int, default=2, help="compute.jobs for demo and tracking")
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_runner"))
    ap.add_argument("--from-data", type=Path, default=None,
                    help="a project folder whose data/ already holds this demo, ingested and tracked")
    args = ap.parse_args()
    actors = args.actors.split(",")
    work = args.work
    prep, log = work / "prep", work / "log.txt"
    if not (prep / "data" / "openface").exists():
        shutil.rmtree(prep, ignore_errors=True)
        prep.mkdir(parents=True)
        copy_sources(REPO, prep)
        set_params(prep, args.size, actors, args.prep_jobs)
        t0 = time.perf_counter()
        if args.from_data:                     # reuse a prepared demo + tracking
            shutil.copytree(args.from_data / "data", prep / "data")
        else:                                  # the demo corpus of the selected actors only
            gen = ("import yaml; from features.demo.corpus import generate_corpus as g; "
                   "d = yaml.safe_load(open('params.yaml'))['demo']; "
                   f"g('data/demo/corpus', size={args.size!r}, seed=d['seed'], width=d['width'], "
                   f"height=d['height'], fps=d['fps'], jobs={args.prep_jobs}, "
                   f"actors={[int(a) for a in actors]})")
            sh([sys.executable, "-c", gen], prep, log)
            for cmd in (["stages.ingest"], *[["stages.track", a] for a in actors]):
                sh([sys.executable, "-m", *cmd], prep, log)
        print(f"prepared {args.size} demo, actors {args.actors}: {time.perf_counter() - t0:.0f} s")
    results = {}
    for label, src in (("before", args.before.resolve()), ("after", REPO)):
        dest = work / label
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        copy_sources(src, dest)
        set_params(dest, args.size, actors, args.jobs)
        subprocess.run(["cp", "-al", str(prep / "data"), str(dest / "data")], check=True)
        shutil.rmtree(dest / "data" / "features", ignore_errors=True)
        sh([sys.executable, "-c", DRIVER, ",".join(actors)], dest, log)
        results[label] = json.loads((dest / "bench_result.json").read_text())
    clips = results["after"]["clips"]
    print(f"demo.size {args.size}, actors {args.actors}: {clips} clips; compute.jobs {args.jobs}")
    print(f"{'group':6} {'version':7} {'wall s':>7} {'CSV parses/clip':>16} {'CSV hashes/clip':>16} "
          f"{'audio decodes/clip':>19}")
    for group in ("kpd", "facs", "audio"):
        for label in ("before", "after"):
            r = results[label][group]
            print(f"{group:6} {label:7} {r['seconds']:7.2f} {r.get('csv_parses', 0):16.2f} "
                  f"{r.get('csv_hashes', 0):16.2f} {r.get('audio_decodes', 0):19.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
