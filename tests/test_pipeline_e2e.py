"""End to end: `dvc repro` on the tiny demo corpus in a fresh git repo, then the DVC user's workflows.

One pipeline run (module fixture) serves every test here: outputs and shapes, a no-op second
repro, the param -> stage mapping, and the team-remote round trip (push, clone, pull, nothing to
re-run, identical features).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import copy_project, run, set_params
from features.openface import read_openface
from features.store import list_ids, read_record

pytestmark = pytest.mark.slow

TINY_ACTORS = ["01", "02", "03", "04"]


@pytest.fixture(scope="module")
def tiny_repo(tmp_path_factory) -> Path:
    repo = copy_project(tmp_path_factory.mktemp("e2e") / "repo")
    set_params(repo, {"demo.size": "tiny", "demo.width": 320, "demo.height": 180,
                      "dataset.actors": TINY_ACTORS, "enabled.crops": ["crops"], "train.folds": [0, 1, 4],
                      "train.epochs": 4})
    run(["git", "commit", "-qam", "tiny demo params"], repo)
    run(["dvc", "repro"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "repro"], repo)
    return repo


def _h5(repo: Path, feature: str, actor: str) -> Path:
    return repo / "data" / "features" / feature / f"Actor_{actor}.h5"


def test_outputs_have_the_papers_shapes(tiny_repo):
    manifest = pd.read_parquet(tiny_repo / "data/manifest.parquet")
    assert set(manifest["actor"]) == {int(a) for a in TINY_ACTORS}
    expected = {"lms": (88, 24), "mfcc": (88, 39), "kpd_face": (88, 780), "kpd_eyes": (88, 179),
                "au": (88, 35), "pose": (88, 6), "crops_mouth": (88, 110, 180, 3),
                "crops_face": (88, 224, 224, 3)}
    for _, clip in manifest.iterrows():
        actor = f"{clip.actor:02d}"
        track = read_openface(tiny_repo / "data/openface" / f"Actor_{actor}" / f"{clip.video_id}.csv")
        assert track.variant == "openface2" and track.n == clip.frames
        assert track.success.mean() > 0.95
        for feature, shape in expected.items():
            rec = read_record(_h5(tiny_repo, feature, actor), clip.video_id)
            assert rec.data.shape == shape, feature
            assert np.isfinite(rec.data.astype(np.float64)).all(), feature
        eyes = read_record(_h5(tiny_repo, "crops_eyes", actor), clip.video_id).data
        assert eyes.shape[0] == 88 and eyes.shape[-3:-1] == (128, 128) or eyes.shape[-3:] == (128, 256, 3)
    metrics = json.loads((tiny_repo / "reports/metrics.json").read_text())
    assert "accuracy" in json.dumps(metrics)
    assert (tiny_repo / "reports/comparison.md").exists()


def test_second_repro_runs_nothing(tiny_repo):
    out = run(["dvc", "status"], tiny_repo).stdout
    assert "up to date" in out, out
    out = run(["dvc", "repro"], tiny_repo).stdout
    assert "Running stage" not in out, out


def test_kpd_normalisation_reruns_only_kpd_stages(tiny_repo):
    params = (tiny_repo / "params.yaml").read_text()
    try:
        set_params(tiny_repo, {"kpd.normalisation": "same_video"})
        status = json.loads(run(["dvc", "status", "--json"], tiny_repo).stdout)
        assert status and all(name.startswith("kpd@") for name in status), sorted(status)
        assert len(status) == len(TINY_ACTORS)
    finally:
        (tiny_repo / "params.yaml").write_text(params)


def test_team_remote_round_trip(tiny_repo, tmp_path):
    remote = tmp_path / "remote"
    run(["dvc", "remote", "add", "-d", "team", str(remote)], tiny_repo)
    run(["git", "commit", "-qam", "team remote"], tiny_repo)
    run(["dvc", "push", "--run-cache"], tiny_repo)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(tiny_repo), str(clone)], tmp_path)
    run(["dvc", "pull"], clone)
    status = run(["dvc", "status"], clone).stdout
    assert "up to date" in status, status
    out = run(["dvc", "repro"], clone).stdout
    assert "Running stage" not in out, out
    for h5 in sorted((tiny_repo / "data/features").rglob("*.h5")):
        twin = clone / h5.relative_to(tiny_repo)
        assert twin.read_bytes() == h5.read_bytes(), h5
        for vid in list_ids(h5)[:1]:
            np.testing.assert_array_equal(read_record(twin, vid).data, read_record(h5, vid).data)
