"""End to end: the README's main command (`dvc repro` on the default demo corpus, shipped params)
in a fresh git repository, then the DVC user's workflows on that run.

One default run (module fixture, ~8-10 min on 2 cores) serves: the accuracy bar, output shapes,
a no-op second repro, the param -> stage mapping, and the team-remote round trip (push, clone,
pull, nothing to re-run, identical features). A second, tiny run switches the crops stage on.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.core.store import list_ids, read_record
from features.tracks.openface import read_openface
from features.visual.crops import decode_crops
from tests.conftest import copy_project, run, set_params

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def default_repo(tmp_path_factory) -> Path:
    repo = copy_project(tmp_path_factory.mktemp("e2e") / "repo")
    run(["dvc", "repro"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "repro"], repo)
    return repo


def test_default_demo_model_scores_well_above_chance(default_repo):
    """8 classes: chance is 12.5 %; the demo's cues are designed to be learnable (issue bar 50 %)."""
    metrics = json.loads((default_repo / "reports/metrics.json").read_text())
    scores = json.loads((default_repo / "reports/scores.json").read_text())
    assert scores["n_folds"] == 5 and scores["n_test_clips"] == 384
    assert metrics["acc"] >= 50, metrics
    table = (default_repo / "reports/comparison.md").read_text()
    assert "76.82" in table                   # the paper's LMS + face KPD number sits beside ours
    confusion = json.loads((default_repo / "reports/plots/confusion.json").read_text())
    records = confusion if isinstance(confusion, list) else next(iter(confusion.values()))
    assert len(records) == 384 and {"actual", "predicted"} <= set(records[0])


def _machine(repo: Path) -> dict:
    """The CPU fingerprint a run's fold-0 training recorded (``features.core.devices.cpu_fingerprint``)."""
    return json.loads((repo / "reports/train/fold_0.json").read_text()).get("machine", {})


def test_fresh_repro_reproduces_the_committed_baseline(default_repo):
    """The README's `dvc repro` in a fresh copy (shipped params, committed dvc.lock) gives the
    committed reports/metrics.json. Tolerance (docs/experiments.md "Reproduction"): **exact** on a
    CPU of the model that wrote the baseline (recorded in reports/train/fold_0.json); elsewhere
    2.5 points: the stages pin torch to AVX2 kernels (the cause of an earlier 0.75-point spread
    between an AVX-512 and an AVX2 machine), but MKL's AVX2 path on another vendor's CPU and
    other libraries' own dispatch are not guaranteed to round alike (one clip = 0.26 points)."""
    from tests.test_baseline import REPO as CHECKOUT

    committed = json.loads((CHECKOUT / "reports/metrics.json").read_text())
    reproduced = json.loads((default_repo / "reports/metrics.json").read_text())
    assert set(reproduced) == set(committed)
    assert reproduced["paper"] == committed["paper"]
    same_cpu = _machine(default_repo).get("cpu") == _machine(CHECKOUT).get("cpu")
    print(f"reproduced {reproduced} vs committed {committed} "
          f"({'same' if same_cpu else 'another'} CPU model: {_machine(default_repo)} vs {_machine(CHECKOUT)})")
    assert _machine(default_repo).get("torch_kernels") == "AVX2", "stages must pin torch to AVX2 kernels"
    if same_cpu:
        assert reproduced == committed
    for key in ("acc", "uar", "macro_f1"):
        assert abs(reproduced[key] - committed[key]) <= 2.5, (key, reproduced, committed)


def test_outputs_have_the_papers_shapes(default_repo):
    manifest = pd.read_parquet(default_repo / "data/manifest.parquet")
    assert len(manifest) == 384 and manifest["actor"].nunique() == 24
    expected = {"lms": (88, 24), "mfcc": (88, 39), "kpd_face": (88, 780), "kpd_eyes": (88, 179),
                "au": (88, 35), "pose": (88, 6), "gaze": (88, 4)}
    for _, clip in manifest.iloc[::37].iterrows():
        track = read_openface(default_repo / "data/openface" / clip.actor_dir / f"{clip.video_id}.csv")
        assert track.variant == "openface2" and track.n == clip.frames
        assert track.success.mean() > 0.95
        for feature, shape in expected.items():
            rec = read_record(default_repo / "data/features" / feature / f"{clip.actor_dir}.h5",
                              clip.video_id)
            assert rec.data.shape == shape, feature
            assert np.isfinite(rec.data.astype(np.float64)).all(), feature


def test_second_repro_runs_nothing(default_repo):
    out = run(["dvc", "status"], default_repo).stdout
    assert "up to date" in out, out
    out = run(["dvc", "repro"], default_repo).stdout
    assert "Running stage" not in out, out


def test_kpd_normalisation_reruns_only_kpd_stages(default_repo):
    params = (default_repo / "params.yaml").read_text()
    try:
        set_params(default_repo, {"kpd.normalisation": "same_video"})
        status = json.loads(run(["dvc", "status", "--json"], default_repo).stdout)
        assert sorted(status) == sorted(f"kpd@{a:02d}-video" for a in range(1, 25)), sorted(status)
    finally:
        (default_repo / "params.yaml").write_text(params)


def test_team_remote_round_trip(default_repo, tmp_path):
    remote = tmp_path / "remote"
    run(["dvc", "remote", "add", "-d", "team", str(remote)], default_repo)
    run(["git", "commit", "-qam", "team remote"], default_repo)
    run(["dvc", "push", "--run-cache"], default_repo)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(default_repo), str(clone)], tmp_path)
    run(["dvc", "pull"], clone)
    status = run(["dvc", "status"], clone).stdout
    assert "up to date" in status, status
    out = run(["dvc", "repro"], clone).stdout
    assert "Running stage" not in out, out
    for h5 in sorted((default_repo / "data/features").rglob("*.h5")):
        twin = clone / h5.relative_to(default_repo)
        assert twin.read_bytes() == h5.read_bytes(), h5
    vid = list_ids(default_repo / "data/features/kpd_face/Actor_07.h5")[0]
    np.testing.assert_array_equal(read_record(clone / "data/features/kpd_face/Actor_07.h5", vid).data,
                                  read_record(default_repo / "data/features/kpd_face/Actor_07.h5", vid).data)


def test_crops_stage_on_tiny_demo(tmp_path):
    """The crops stage (off by default) through DVC on the tiny demo: the papers' patch sizes."""
    repo = copy_project(tmp_path / "repo")
    set_params(repo, {"demo.size": "tiny", "demo.width": 320, "demo.height": 180,
                      "dataset.actors": ["01", "02"], "enabled.crops": ["crops"]})
    run(["dvc", "repro", "--glob", "crops@*"], repo)
    manifest = pd.read_parquet(repo / "data/manifest.parquet")
    shapes = {"crops_eyes": (88, 2, 128, 128, 3), "crops_mouth": (88, 110, 180, 3),
              "crops_face": (88, 224, 224, 3)}
    for _, clip in manifest.iterrows():
        for feature, shape in shapes.items():
            rec = read_record(repo / "data/features" / feature / f"{clip.actor_dir}.h5", clip.video_id)
            data = decode_crops(rec.data)                     # stored as JPEG (crops.codec)
            assert data.shape == shape and data.dtype == np.uint8
            assert data.std() > 5                             # real image content, not padding
