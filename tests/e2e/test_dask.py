"""Scale-out: the feature stages on a dask.distributed cluster give the same bytes as local loky.

A two-worker ``LocalCluster`` (separate processes, one thread each) stands in for a real cluster.
The same tiny corpus (three face clips of actor 01 with sound, one of them too short) goes through
ingest, track, kpd, facs and audio twice, in two working folders: once with ``compute.backend:
loky`` (2 jobs) and once with ``compute.backend: dask`` and the cluster's scheduler address. The
relative ``dataset.root`` (like the default ``data/demo/corpus``) makes every path the workers
see relative to the stage's working folder, which is not the workers' own.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from features.core.store import list_ids
from tests.robustness.media import face_clip, write_params

pytestmark = pytest.mark.slow

distributed = pytest.importorskip("distributed")

IDS = ["01-01-01-01-01-01-01", "01-01-03-01-01-01-01", "01-01-05-02-01-01-01"]
STAGES = [("ingest", []), ("track", ["01"]), ("kpd", ["face", "01"]), ("kpd", ["eyes", "01"]),
          ("facs", ["au", "01"]), ("facs", ["gaze_stats", "01"]), ("audio", ["lms", "01"])]


def _run_stages(work: Path, monkeypatch) -> None:
    import importlib
    monkeypatch.chdir(work)
    for name, args in STAGES:
        mod = importlib.import_module(f"stages.{name}")
        assert mod.main(args) == 0, name


def _stage_modules() -> set[str]:
    """On a worker: the project modules it has imported (those of the tasks it ran)."""
    import sys
    return {m for m in sys.modules if m.startswith(("stages.", "features."))}


def _outputs(work: Path) -> dict[str, bytes]:
    """Every output file of the run (data/ and reports/, the raw media folder aside) by path."""
    out = {}
    for top in ("data", "reports"):
        for p in sorted((work / top).rglob("*")):
            if p.is_file() and "raw" not in p.relative_to(work).parts:
                out[str(p.relative_to(work))] = p.read_bytes()
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dask") / "corpus" / "Actor_01"
    for k, vid in enumerate(IDS):
        face_clip(root / f"{vid}.mp4", n_frames=80 if k == 2 else 96, seed=k)
    return root.parent


def test_stages_on_dask_cluster_match_loky(corpus, tmp_path, monkeypatch):
    from distributed import LocalCluster

    runs = {}
    for backend in ("loky", "dask"):
        work = tmp_path / backend
        shutil.copytree(corpus, work / "corpus")
        runs[backend] = work
    common = {"dataset.root": "corpus", "dataset.actors": ["01"], "dataset.min_frames": 60,
              "compute.jobs": 2}
    write_params(runs["loky"], {**common, "compute.backend": "loky"})
    _run_stages(runs["loky"], monkeypatch)

    # The workers start in a folder of their own (as on another machine), not in the stage's.
    elsewhere = tmp_path / "workers"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                      dashboard_address=None) as cluster:
        write_params(runs["dask"], {**common, "compute.backend": "dask",
                                    "compute.scheduler_address": cluster.scheduler_address})
        _run_stages(runs["dask"], monkeypatch)
        # the per-clip functions really ran on the cluster's workers: count the computed tasks
        # and look for the recipe modules among the workers' imports
        computed = sum(tp.state_counts.get("memory", 0)
                       for tp in cluster.scheduler.task_prefixes.values())
        with distributed.Client(cluster) as client:
            imported = client.run(_stage_modules)


    n_clips = len(IDS)
    assert computed >= n_clips * len(STAGES), f"only {computed} tasks ran on the cluster"
    assert len(imported) == 2
    on_workers = set().union(*imported.values())
    assert {"features.ingest", "features.tracker.jobs", "features.core.runner",
            "features.visual.kpd_recipe", "features.visual.facs_recipe",
            "features.audio.recipes"} <= on_workers, sorted(on_workers)
    loky, dask = _outputs(runs["loky"]), _outputs(runs["dask"])
    assert sorted(loky) == sorted(dask)
    differ = [p for p in loky if loky[p] != dask[p]]
    assert not differ, f"outputs differ between loky and dask: {differ}"
    # and the outputs hold the clips (a run that skipped everything would also be identical)
    for feature in ("kpd_face", "kpd_eyes", "au", "gaze_stats", "lms"):
        assert list_ids(runs["dask"] / "data" / "features" / feature / "Actor_01.h5") == IDS, feature
    assert sorted(p.name for p in (runs["dask"] / "data/openface/Actor_01").glob("*.csv")) == \
        [f"{v}.csv" for v in IDS]


def test_worker_without_the_stage_folder_says_so(tmp_path):
    from features.core.parallel import in_folder
    here = Path.cwd()
    missing = tmp_path / "not-on-this-worker"
    with pytest.raises(RuntimeError, match=rf"working folder {missing} is not reachable there; "
                                           "workers need the repository at the same path"):
        in_folder(len, str(missing), "abc")
    assert Path.cwd() == here
    assert in_folder(len, str(here), "abc") == 3
