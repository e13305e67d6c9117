"""Stage-level tests of stages.kpd, stages.facs and stages.crops on a tiny synthetic actor.

The actor (03) has real short videos (ffmpeg test pattern, 320x240, 30 fps) and hand-built
OpenFace CSVs written with features.tracks.openface.write_openface: a neutral reference clip, a clip
normalised by it, a short clip (60 frames < 88), a clip without a neutral reference clip and
with most frames untracked, and a clip whose CSV is missing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from features.core.config import dump_params
from features.core.manifest import COLUMNS, actor_manifest_path
from features.core.paths import feature_file, openface_csv
from features.core.problems import read_problems
from features.core.store import list_ids, read_file_attrs, read_record
from features.media.video import count_frames, iter_frames
from features.tracks.openface import BLOCKS, OpenFaceError, OpenFaceTrack, read_openface, write_openface
from features.visual.crops import box_centre, crop_patch, face_image
from features.visual.gaze import GAZE_STAT_NAMES
from features.visual.kpd import face_distances

REPO = Path(__file__).resolve().parents[2]
ACTOR = "03"
NEUTRAL = "01-01-01-01-01-01-03"     # neutral, statement 1, repetition 1
HAPPY = "01-01-03-01-01-01-03"       # normalised by NEUTRAL
SHORT = "01-01-04-01-01-02-03"       # 60 frames
NOREF = "01-01-05-01-02-01-03"       # statement 2: no neutral clip; 55 % untracked
NOCSV = "01-01-06-01-01-01-03"       # CSV missing
NEUTRAL_ROW = 40                     # most neutral frame of NEUTRAL (video frame 40)


def _mean_face() -> np.ndarray:
    v = np.loadtxt(REPO / "features" / "assets" / "face-model-68-3d" / "model.txt")
    return v.reshape(3, 68).T                                   # (68, 3) mm


def _ring(centre: np.ndarray, r: float, k: int) -> np.ndarray:
    a = np.linspace(0, 2 * np.pi, k, endpoint=False)
    pts = np.zeros((k, len(centre)))
    pts[:, 0], pts[:, 1] = r * np.cos(a), 0.5 * r * np.sin(a)
    return centre + pts


def make_track(n: int, seed: int, fail: np.ndarray | None = None, neutral_row: int | None = None
               ) -> OpenFaceTrack:
    """A plausible OpenFace track of n frames for a 320x240 video (zeros on failed rows)."""
    rng = np.random.default_rng(seed)
    face = _mean_face()
    t = np.arange(n)
    open_mouth = 3.0 * (1 + np.sin(t / 7.0))                     # mm, an expression signal
    lmk_3d = face[None] + rng.normal(scale=0.6, size=(n, 68, 3))
    lmk_3d[:, 57:60, 1] += open_mouth[:, None]
    lmk_3d[:, 2] += 600.0                                        # depth, like a camera frame
    lmk_2d = 160 + 0.9 * lmk_3d[:, :, :2] * [1, 1] + [0, -40]
    lmk_2d[:, :, 0] += 2.0 * np.sin(t / 11.0)[:, None]           # head sway (px)
    eye_2d = np.zeros((n, 56, 2))
    eye_3d = np.zeros((n, 56, 3))
    for e, (lo, hi) in enumerate([(36, 42), (42, 48)]):
        for f in range(n):
            eye_2d[f, 28 * e:28 * e + 28] = _ring(lmk_2d[f, lo:hi].mean(0), 14, 28)
            eye_3d[f, 28 * e:28 * e + 28] = _ring(lmk_3d[f, lo:hi].mean(0), 15, 28)
        eye_3d[:, 28 * e + 8:28 * e + 20] += rng.normal(scale=0.4, size=(n, 12, 3))
    au_r = rng.uniform(0.2, 2.6, size=(n, 17))
    if neutral_row is not None:
        au_r[neutral_row] = 0.0
    au_c = np.insert((au_r > 1.0).astype(float), 16, 0.0, axis=1)   # AU28_c between 26 and 45
    gaze_angle = np.stack([0.1 * np.sin(t / 9.0), 0.05 * np.cos(t / 5.0)], 1)
    g = np.stack([np.sin(gaze_angle[:, 0]), np.sin(gaze_angle[:, 1]), -np.ones(n)], 1)
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    success = np.ones(n, bool) if fail is None else ~fail
    arrays = dict(gaze_0=g, gaze_1=g.copy(), gaze_angle=gaze_angle, eye_lmk_2d=eye_2d,
                  eye_lmk_3d=eye_3d, pose_T=np.stack([t * 0.5, np.zeros(n), 600 + t], 1),
                  pose_R=np.stack([np.full(n, 0.1), 0.01 * t, np.zeros(n)], 1), lmk_2d=lmk_2d,
                  lmk_3d=lmk_3d, pdm=np.zeros((n, 40)), au_r=au_r, au_c=au_c)
    for v in arrays.values():
        v[~success] = 0.0
    return OpenFaceTrack(path="", frame=t + 1, timestamp=t / 30.0, confidence=success * 0.98,
                         success=success, blocks=tuple(b for b in BLOCKS if b != "basic"), **arrays)


def extra_ids(n: int) -> list[str]:
    """``n`` more statement-1 clip ids of actor 03 (all normalised by NEUTRAL), for benchmarks."""
    ids = [f"01-01-{e:02d}-{i:02d}-01-{r:02d}-03" for e in range(2, 9) for i in (1, 2)
           for r in (1, 2)]
    ids = [v for v in ids if v not in (HAPPY, SHORT, NOCSV)]
    if n > len(ids):
        raise ValueError(f"at most {len(ids)} extra clips")
    return ids[:n]


def build_actor(root: Path, make_clip, size: str = "320x240", n_extra: int = 0) -> None:
    """Videos, CSVs, manifest slice and params.yaml of the synthetic actor under ``root``."""
    clips = {NEUTRAL: 3.2, HAPPY: 3.2, SHORT: 2.0, NOREF: 3.2, NOCSV: 3.2}
    clips.update({v: 3.2 for v in extra_ids(n_extra)})
    width, height = (int(v) for v in size.split("x"))
    rows = []
    for k, (vid, seconds) in enumerate(clips.items()):
        video = make_clip(root / "videos" / f"{vid}.mp4", seconds=seconds, size=size,
                          audio_channels=None)
        n = count_frames(video)
        fail = np.zeros(n, bool)
        if vid == NEUTRAL:
            fail[20] = True
        if vid == HAPPY:
            fail[[30, 31, 32]] = True
        if vid == NOREF:
            fail[np.arange(n) % 20 < 11] = True                  # 55 % untracked
        if vid != NOCSV:
            csv = openface_csv(vid, ACTOR, root / "data" / "openface")
            csv.parent.mkdir(parents=True, exist_ok=True)
            write_openface(csv, make_track(n, k, fail, NEUTRAL_ROW if vid == NEUTRAL else None))
        parts = [int(p) for p in vid.split("-")]
        ref = NEUTRAL if parts[4] == 1 else ""
        row = {c: 0 for c in COLUMNS}
        row.update(video_id=vid, path=str(video), modality=1, vocal_channel=1, emotion=parts[2],
                   emotion_name="x", label=parts[2] - 1, intensity=parts[3], statement=parts[4],
                   repetition=parts[5], actor=3, actor_dir="Actor_03", gender="male", fold=1,
                   frames=n, fps=30.0, width=width, height=height, duration_s=n / 30.0,
                   fingerprint=f"fp{k}", neutral_ref=ref, modality_name="audio-video",
                   vocal_channel_name="speech", intensity_name="normal")
        rows.append(row)
    path = root / actor_manifest_path(ACTOR)
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=COLUMNS).to_parquet(path, index=False)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["compute"]["jobs"] = 1
    (root / "params.yaml").write_text(dump_params(params))


@pytest.fixture(scope="module")
def actor_root(tmp_path_factory):
    from tests.conftest import make_clip
    root = tmp_path_factory.mktemp("actor")
    build_actor(root, make_clip)
    return root


@pytest.fixture
def actor(actor_root, tmp_path, monkeypatch):
    """A fresh copy of the synthetic actor as the working directory."""
    work = tmp_path / "work"
    shutil.copytree(actor_root, work)
    monkeypatch.chdir(work)
    return work


def _problems(feature: str) -> list[dict]:
    return read_problems(Path("reports/problems") / feature / "Actor_03.csv")


def test_kpd_stage_face_and_eyes(actor):
    from stages.kpd import main
    main(["face", ACTOR])
    path = feature_file("kpd_face", ACTOR)
    assert list_ids(path) == sorted([NEUTRAL, HAPPY, SHORT, NOREF])
    recs = {v: read_record(path, v) for v in list_ids(path)}
    for rec in recs.values():
        assert rec.data.shape == (88, 780) and rec.data.dtype == np.float32
        assert np.isfinite(rec.data).all()
    # the reference clip's most neutral frame normalises to ones
    neu = recs[NEUTRAL]
    pos = int(np.flatnonzero(neu.frame_indices == NEUTRAL_ROW)[0])
    np.testing.assert_allclose(neu.data[pos], 1.0, rtol=1e-6)
    assert not neu.valid[int(np.flatnonzero(neu.frame_indices == 20)[0])]   # failed frame
    # HAPPY is divided by the neutral clip's frame (from the CSVs as written)
    t_h = read_openface(openface_csv(HAPPY, ACTOR))
    t_n = read_openface(openface_csv(NEUTRAL, ACTOR))
    hap = recs[HAPPY]
    k = 10
    expect = face_distances(t_h.lmk_3d[[hap.frame_indices[k]]]) / face_distances(t_n.lmk_3d[[NEUTRAL_ROW]])
    np.testing.assert_allclose(hap.data[k], expect[0], rtol=1e-5)
    assert hap.valid.sum() == 85 and f"{NEUTRAL}@frame{NEUTRAL_ROW + 1}" in hap.source
    # failed frames 30-32 were interpolated from frames 29 and 33
    mid = face_distances(t_h.lmk_3d[[29]] * 0.25 + t_h.lmk_3d[[33]] * 0.75)[0]
    ref = face_distances(t_n.lmk_3d[[NEUTRAL_ROW]])[0]
    np.testing.assert_allclose(hap.data[int(np.flatnonzero(hap.frame_indices == 32)[0])], mid / ref, rtol=1e-5)
    assert f"{NOREF}@frame" in recs[NOREF].source            # fallback: its own neutral frame
    short = recs[SHORT]
    assert short.valid.sum() == 60 and not short.valid[:14].any()
    probs = _problems("kpd_face")
    by = {(p["video_id"], p["action"].split(":")[0]) for p in probs}
    assert (NOCSV, "skipped") in by and (NOREF, "fallback") in by and (NOREF, "kept") in by
    assert (SHORT, "padded") in by
    attrs = read_file_attrs(path)
    assert attrs["params"]["dims"] == 780 and len(attrs["params"]["landmarks"]) == 40
    first = path.read_bytes()
    main(["eyes", ACTOR])
    eyes = read_record(feature_file("kpd_eyes", ACTOR), HAPPY)
    assert eyes.data.shape == (88, 179)
    gaze = np.stack([0.1 * np.sin(eyes.frame_indices / 9.0), 0.05 * np.cos(eyes.frame_indices / 5.0)], 1)
    np.testing.assert_allclose(eyes.data[eyes.valid, 177:], gaze[eyes.valid], atol=6e-4)
    main(["face", ACTOR])
    assert path.read_bytes() == first                      # deterministic bytes


def test_kpd_stage_graph_path_and_missing_blocks(actor):
    from stages.kpd import main
    params = yaml.safe_load(Path("params.yaml").read_text())
    params["kpd"]["normalisation"] = "graph_path"
    Path("params.yaml").write_text(dump_params(params))
    main(["face", ACTOR])
    rec = read_record(feature_file("kpd_face", ACTOR), HAPPY)
    assert rec.data.shape == (88, 153) and (rec.data <= 1.0 + 1e-6).all()
    # a CSV with AUs only: a clear error naming the feature, the block and the file
    csv = openface_csv(SHORT, ACTOR)
    t = read_openface(csv)
    cols = BLOCKS["basic"] + BLOCKS["au_r"] + BLOCKS["au_c"]
    m = np.concatenate([np.stack([t.frame, np.zeros(t.n), t.timestamp, t.confidence,
                                  t.success.astype(float)], 1), t.au_r, t.au_c], 1)
    pd.DataFrame(m, columns=cols).to_csv(csv, index=False)
    with pytest.raises(OpenFaceError, match=r"kpd_face needs lmk_3d; Actor_03's CSVs have au_r, au_c only.*"
                                            + SHORT):
        main(["face", ACTOR])


def test_facs_stage_shapes_and_values(actor):
    from stages.facs import main
    for feature in ("au", "pose", "gaze", "gaze_stats"):
        main([feature, ACTOR])
    au = read_record(feature_file("au", ACTOR), HAPPY)
    assert au.data.shape == (88, 35) and au.data[:, :17].max() <= 1.0
    assert set(np.unique(au.data[:, 17:])) <= {0.0, 1.0}
    pose = read_record(feature_file("pose", ACTOR), NEUTRAL)
    assert pose.data.shape == (88, 6)
    np.testing.assert_allclose(pose.data[pose.valid].mean(0), 0.0, atol=1e-4)
    np.testing.assert_allclose(np.diff(pose.data[:, 0])[:10], 0.5, atol=0.06)   # Tx slope 0.5 mm/frame
    gaze = read_record(feature_file("gaze", ACTOR), SHORT)
    assert gaze.data.shape == (88, 4) and gaze.valid.sum() == 60
    stats_path = feature_file("gaze_stats", ACTOR)
    st = read_record(stats_path, HAPPY)
    assert st.data.shape == (72,) and np.isfinite(st.data).all()
    assert read_file_attrs(stats_path)["params"]["names"] == list(GAZE_STAT_NAMES)
    assert read_file_attrs(feature_file("au", ACTOR))["params"]["names"][0] == "AU01_r"
    assert {p["video_id"] for p in _problems("gaze_stats") if p["action"] == "skipped"} == {NOCSV}


def test_crops_stage_shapes_rgb_and_centres(actor):
    from stages.crops import main
    params = yaml.safe_load(Path("params.yaml").read_text())
    params["compute"]["jobs"] = 2                          # exercise the worker processes
    params["crops"]["codec"] = "png"                       # lossless: the pixel checks below hold exactly
    Path("params.yaml").write_text(dump_params(params))
    main([ACTOR])
    from features.visual.crops import decode_crops, is_encoded
    eyes = read_record(feature_file("crops_eyes", ACTOR), HAPPY)
    mouth = read_record(feature_file("crops_mouth", ACTOR), HAPPY)
    face = read_record(feature_file("crops_face", ACTOR), HAPPY)
    assert is_encoded(face.data)                           # stored compressed (crops.codec)
    for rec in (eyes, mouth, face):
        rec.data = decode_crops(rec.data)
    spaced = read_record(feature_file("crops_spaced_face", ACTOR), HAPPY)
    assert decode_crops(spaced.data).shape == (20, 224, 224, 3) and len(spaced.frame_indices) == 20
    assert eyes.data.shape == (88, 2, 128, 128, 3) and eyes.data.dtype == np.uint8
    assert mouth.data.shape == (88, 110, 180, 3) and face.data.shape == (88, 224, 224, 3)
    assert read_file_attrs(feature_file("crops_face", ACTOR))["params"]["colour"] == "RGB"
    # untracked frames: eyes/mouth invalid, the centre face crop still valid
    k = int(np.flatnonzero(eyes.frame_indices == 31)[0])
    assert not eyes.valid[k] and not mouth.valid[k] and face.valid[k]
    # same frames, RGB, centred on the landmarks as written in the CSV
    t = read_openface(openface_csv(HAPPY, ACTOR))
    video = pd.read_parquet(actor_manifest_path(ACTOR)).set_index("video_id").loc[HAPPY, "path"]
    k = 5
    idx = int(eyes.frame_indices[k])
    frame = next(f for i, f in iter_frames(video, [idx]))[..., ::-1]
    np.testing.assert_array_equal(face.data[k], face_image(frame, 224)[0])
    np.testing.assert_array_equal(eyes.data[k, 1], crop_patch(frame, box_centre(t.eye_lmk_2d[idx, 28:]), (128, 128))[0])
    np.testing.assert_array_equal(mouth.data[k], crop_patch(frame, box_centre(t.lmk_2d[idx, 48:68]), (110, 180))[0])
    short = read_record(feature_file("crops_face", ACTOR), SHORT)
    assert decode_crops(short.data).shape == (88, 224, 224, 3) and short.valid.sum() == 60
    assert {p["video_id"] for p in _problems("crops") if p["action"] == "skipped"} == {NOCSV}


def test_kpd_and_facs_parse_each_csv_once(actor, monkeypatch):
    """One parse per clip for both KPD kinds (the neutral reference included) and for the four
    facs features."""
    import features.tracks.clip as clip_module
    from stages.facs import main as facs_main
    from stages.kpd import main as kpd_main
    calls: list[str] = []
    real = clip_module.read_openface

    def counting(path, *args, **kwargs):
        calls.append(Path(path).stem)
        return real(path, *args, **kwargs)
    monkeypatch.setattr(clip_module, "read_openface", counting)
    present = sorted(p.stem for p in openface_csv(HAPPY, ACTOR).parent.glob("*.csv"))
    kpd_main(["face,eyes", ACTOR])
    assert sorted(calls) == present
    assert list_ids(feature_file("kpd_eyes", ACTOR)) == list_ids(feature_file("kpd_face", ACTOR))
    calls.clear()
    facs_main(["au,pose,gaze,gaze_stats", ACTOR])
    assert sorted(calls) == present
