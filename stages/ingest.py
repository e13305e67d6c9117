"""Stage ingest: dataset.root -> data/manifest.parquet, per-actor slices, problems report."""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path

from features.core.atomic import atomic_path, replace_dir
from features.core.cli import run_stage
from features.core.config import actor_ids, get, load_params
from features.core.manifest import MANIFEST_BY_ACTOR, actor_manifest_path
from features.core.parallel import compute_settings, map_progress
from features.core.paths import DATA, MANIFEST, REPORTS, problems_csv
from features.core.problems import ProblemLog
from features.ingest import build_manifest

RAW_DIR = DATA / "raw"
SUMMARY = REPORTS / "ingest.json"


def main(argv: list[str] | None = None) -> int:
    t0 = time.perf_counter()
    params = load_params()
    media = get(params, "dataset.media")
    problems = ProblemLog("ingest", fail=get(params, "dataset.on_error") == "fail")
    comp = compute_settings(params)
    tmp_raw = RAW_DIR.with_name(".raw.tmp")
    shutil.rmtree(tmp_raw, ignore_errors=True)
    tmp_raw.mkdir(parents=True)
    try:
        df, summary = build_manifest(
            Path(get(params, "dataset.root")), tmp_raw, media, actor_ids(params),
            get(params, "dataset.folds"), int(get(params, "dataset.min_frames")), problems,
            map_fn=lambda fn, items: map_progress(fn, items, desc="probe", **comp),
            require_audio=bool(get(params, "dataset.require_audio", True)))
        if df.empty:
            raise RuntimeError(f"{get(params, 'dataset.root')}: no usable clip for actors "
                               f"{get(params, 'dataset.actors')} (see {problems_csv('ingest')})")
        # Paths of extracted members point into data/raw, not the temporary folder.
        df["path"] = df["path"].str.replace(str(tmp_raw), str(RAW_DIR), regex=False)
        (tmp_raw / "README.txt").write_text("Media extracted from the zip archives under "
                                            "dataset.root by the ingest stage.\n")
        replace_dir(tmp_raw, RAW_DIR)
    except BaseException:
        problems.write(problems_csv("ingest"))
        shutil.rmtree(tmp_raw, ignore_errors=True)
        raise
    with atomic_path(MANIFEST, suffix=".parquet") as tmp:
        df.to_parquet(tmp, index=False)
    tmp_dir = MANIFEST_BY_ACTOR.with_name(".manifest_by_actor.tmp")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    tmp_dir.mkdir(parents=True)
    for actor in actor_ids(params):
        part = df[df["actor"] == actor].reset_index(drop=True)
        part.to_parquet(actor_manifest_path(actor, tmp_dir), index=False)
    replace_dir(tmp_dir, MANIFEST_BY_ACTOR)
    problems.write(problems_csv("ingest"))
    with atomic_path(SUMMARY, suffix=".json") as tmp:
        tmp.write_text(json.dumps(dataclasses.asdict(summary), indent=2) + "\n")
    print(f"ingest: {summary.clips} clips, {summary.problems} problems "
          f"({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    run_stage(main)
