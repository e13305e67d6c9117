"""OpenFace 2.2's own models in the embedded tracker: the model reader, the aligned face and FHOG
against OpenFace's own output, the AU predictions against a real OpenFace build, the fallback
without models and the fetch command against a loopback server.

The model files and reference outputs are read from ``../shared`` (OpenFace's academic licence:
never copied into the repository); tests needing them skip when it is absent."""

from __future__ import annotations

import functools
import http.server
import shutil
import struct
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from features.media.video import iter_frames, probe_media
from features.tracker import fetch_openface, openface_aus, openface_models, pdm
from features.tracker.embedded import TrackerSettings, report, track_frames, track_video
from features.tracker.fhog import fhog, fhog_vector
from features.tracks.openface import AU_R, read_openface

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
OPENFACE = SHARED / "third_party" / "openface"
AU_DIR = OPENFACE / "lib" / "local" / "FaceAnalyser" / "AU_predictors"
REAL = SHARED / "data" / "real-faces"
BUILD = REAL / "openface-2.0.6-clnf"
needs_models = pytest.mark.skipif(not (AU_DIR / "main_dynamic_svms.txt").exists(),
                                  reason=f"OpenFace model files not found at {AU_DIR} (../shared is "
                                         "absent outside the development machine and CI)")
needs_build = pytest.mark.skipif(not (BUILD / "default.hog").exists(),
                                 reason=f"OpenFace build outputs not found at {BUILD}")


@pytest.fixture
def no_user_models(tmp_path, monkeypatch):
    """No OpenFace models anywhere the tracker looks by default."""
    monkeypatch.delenv(openface_models.ENV_VAR, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def _read_hog(path: Path) -> list[np.ndarray]:
    """OpenFace's binary .hog file: per frame int32 cols, rows, channels, float32 valid, values."""
    buf, pos, out = path.read_bytes(), 0, []
    while pos < len(buf):
        cols, rows, chans = struct.unpack_from("<3i", buf, pos)
        pos += 16
        out.append(np.frombuffer(buf, np.float32, rows * cols * chans, pos).reshape(rows, cols, chans))
        pos += rows * cols * chans * 4
    return out


@needs_models
def test_reader_loads_both_model_sets_as_openface_lists_them():
    dyn = openface_models.load(AU_DIR, "dynamic")
    sta = openface_models.load(AU_DIR, "static")
    for m in (dyn, sta):
        assert [r.name[2:] for r in m.regressors] == AU_R
        assert len(m.classifiers) == 18
        assert {r.means.shape for r in m.regressors + m.classifiers} == {(4702,)}
        assert m.pdm.mean.shape == (68, 3) and m.pdm.modes.shape == (68, 3, 34)
        assert m.pdm.eigen.shape == (34,) and (m.pdm.eigen > 0).all()
        assert m.triangulation.shape == (111, 3)
    by = {r.name: r for r in dyn.regressors}
    assert by["AU01"].dynamic and 0 < by["AU01"].cutoff < 1          # AU_all_best: dynamic AU01
    assert not by["AU04"].dynamic and by["AU04"].cutoff == -1        # ... static AU04
    assert not any(r.dynamic for r in sta.regressors + sta.classifiers)
    # the mean shape is a face in mm: ~90 mm between the outer eye corners
    assert 80 < np.linalg.norm(dyn.pdm.mean[36] - dyn.pdm.mean[45]) < 110


@needs_models
def test_reader_names_missing_and_truncated_files(tmp_path):
    au = tmp_path / "AU_predictors"
    shutil.copytree(AU_DIR, au)
    dat = au / "svr_combined" / "AU_12_static_intensity_comb.dat"
    dat.write_bytes(dat.read_bytes()[:5000])
    with pytest.raises(openface_models.OpenFaceModelError, match=r"AU_12_static_intensity_comb\.dat: truncated"):
        openface_models.load(au, "static")
    dat.unlink()
    with pytest.raises(openface_models.OpenFaceModelError, match=r"AU_12_static_intensity_comb\.dat: file missing"):
        openface_models.load(au, "static")
    (au / "In-the-wild_aligned_PDM_68.txt").write_text("# mean\n204\n1\n6\n1.0 2.0\n")
    with pytest.raises(openface_models.OpenFaceModelError, match="PDM_68.txt: matrix 1 of 3 is truncated"):
        openface_models.load(au, "dynamic")


@needs_models
def test_locate_finds_source_tree_binary_folder_and_flat_folder(tmp_path, no_user_models, monkeypatch):
    assert openface_models.locate(str(OPENFACE)) == AU_DIR                # source tree
    flat = tmp_path / "flat"
    shutil.copytree(AU_DIR, flat / "AU_predictors")
    assert openface_models.locate(str(flat)) == flat / "AU_predictors"   # flat folder
    binary = flat / "FeatureExtraction"
    binary.write_text("")
    assert openface_models.locate(str(binary)) == flat / "AU_predictors"  # beside a binary
    assert openface_models.locate("") is None                             # nothing installed
    monkeypatch.setenv(openface_models.ENV_VAR, str(flat))
    assert openface_models.locate("") == flat / "AU_predictors"
    with pytest.raises(openface_models.OpenFaceModelError, match=r"track.openface_models.*no OpenFace AU models"):
        openface_models.locate(str(tmp_path / "nothing-here"))
    monkeypatch.setenv(openface_models.ENV_VAR, str(tmp_path / "nothing-here"))
    with pytest.raises(openface_models.OpenFaceModelError, match=openface_models.ENV_VAR):
        openface_models.locate("")


def test_fhog_shape_and_gradient_response():
    img = np.zeros((112, 112, 3), np.uint8)
    img[:, 56:] = 200                                   # one vertical edge
    h = fhog(img)
    assert h.shape == (12, 12, 31) and fhog_vector(img).shape == (4464,)
    assert h[:, :3].max() == 0 and h[:, 8:].max() == 0  # flat regions: no response
    # the edge is horizontal intensity change: orientation bin 0 (signed) and 18 (unsigned)
    assert h[:, 5:7, 0].min() > 0.1 and h[:, 5:7, 18].min() > 0.1
    assert fhog(np.zeros((12, 12), np.uint8)).shape == (0, 0, 31)


@needs_build
def test_fhog_reproduces_openfaces_hog_file():
    hog = _read_hog(BUILD / "default.hog")
    assert len(hog) == 288 and hog[0].shape == (12, 12, 31)
    for k in (1, 100, 200):
        face = cv2.imread(str(BUILD / "default_aligned" / f"frame_det_00_{k:06d}.bmp"))
        assert np.abs(fhog(face) - hog[k - 1]).max() < 1e-5


@needs_models
@needs_build
def test_aligned_face_and_aus_reproduce_the_openface_build_on_its_own_landmarks():
    """Given OpenFace's own landmarks, the reimplementation gives OpenFace's aligned face and AUs."""
    models = openface_models.load(AU_DIR, "static")
    ref = read_openface(BUILD / "default.au_static.csv")
    frames = iter_frames(REAL / "default.wmv")
    feats = np.zeros((ref.n, 4702), np.float32)
    for i, (_, frame) in enumerate(frames):
        ff = openface_aus.frame_features(frame, ref.lmk_2d[i], models)
        feats[i] = ff.features
        if i == 0:
            face = openface_aus.align_face(frame, ref.lmk_2d[i], ff.fit.params, models)
            bmp = cv2.imread(str(BUILD / "default_aligned" / "frame_det_00_000001.bmp"))
            assert face.shape == (112, 112, 3) and face.dtype == np.uint8
            assert ((face.sum(-1) > 0) != (bmp.sum(-1) > 0)).sum() < 10       # the face mask
            assert np.abs(face.astype(int) - bmp).mean() < 0.5
            # the PDM fit of the same landmarks gives OpenFace's parameters
            assert np.allclose(ff.fit.params, ref.pdm[0, :6], rtol=0.02, atol=0.02)
    au_r, au_c = openface_aus.predict(models, feats, ref.success)
    for j, au in enumerate(AU_R):
        assert np.abs(au_r[:, j] - ref.au_r[:, j]).mean() < 0.05, au
        if ref.au_r[:, j].std() > 0.05:
            assert np.corrcoef(au_r[:, j], ref.au_r[:, j])[0, 1] > 0.97, au
    assert (au_c == ref.au_c).mean() > 0.97


@needs_models
def test_pdm_fit_recovers_a_known_shape_and_pose():
    """A PDM face of known shape and pose seen through a pinhole camera: the weak-perspective fit
    finds its shape and rotation, the PnP step the pose."""
    from features.tracker.pose import matrix_from_euler, project
    models = openface_models.load(AU_DIR, "dynamic")
    rng = np.random.default_rng(0)
    local = rng.normal(0, 1, 34) * np.sqrt(models.pdm.eigen) * 0.5
    euler, T = np.array([0.1, -0.2, 0.05]), np.array([20.0, -10.0, 600.0])
    K = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])
    lmk = project(models.pdm.shape3d(local) @ matrix_from_euler(euler).T + T, K)
    # weak perspective (the fit's own camera): parameters and shape come back
    R = matrix_from_euler(euler)
    weak = np.array([2.0, *euler, 300.0, 200.0])
    flat = pdm.fit(models.pdm, weak[0] * models.pdm.shape3d(local) @ R[:2].T + weak[4:6])
    assert flat.rms_px < 0.5 and 5 < flat.steps < 1000
    assert np.allclose(flat.params, weak, rtol=0.01, atol=0.01)
    assert np.corrcoef(flat.local[:8], local[:8])[0, 1] > 0.95
    # pinhole camera: the fit is close, the PnP step exact
    fit = pdm.fit(models.pdm, lmk)
    assert fit.rms_px < 1.0
    assert np.allclose(fit.params[1:4], euler, atol=0.06)     # weak perspective: yaw trades with shape
    assert abs(fit.params[0] - 500.0 / 600.0) < 0.03
    T_fit, euler_fit, _ = pdm.head_pose(fit, lmk, K)
    assert np.allclose(euler_fit, euler, atol=0.02) and np.allclose(T_fit, T, rtol=0.03, atol=3.0)
    assert np.allclose(pdm.landmarks_3d(fit, lmk, K)[:, 2].mean(), T[2], rtol=0.03)


@needs_models
def test_tracker_with_openface_models_on_default_wmv(monkeypatch):
    """dlib landmarks + OpenFace's models against the published OpenFace output (static models,
    like the reference)."""
    settings = TrackerSettings(openface_models=str(OPENFACE), au_models="static")
    res = track_video(REAL / "default.wmv", probe_media(REAL / "default.wmv").fps, settings)
    t, of = res.track, read_openface(REAL / "default.openface.csv")
    assert res.au_source == "openface" and t.success.all()
    assert np.abs(t.pdm[:, 6:]).max() > 1.0                       # p_0..p_33 fitted
    for k in range(3):
        a, b = np.degrees(t.pose_R[:, k]), np.degrees(of.pose_R[:, k])
        assert np.corrcoef(a, b)[0, 1] >= 0.95 and abs(np.mean(a - b)) <= 2.0
    r = [np.corrcoef(t.au_r[:, j], of.au_r[:, j])[0, 1] for j in range(17) if of.au_r[:, j].std() > 0.1]
    assert len(r) == 14 and sum(v >= 0.5 for v in r) >= 12
    rep = report(res)
    assert rep["au_source"].startswith("OpenFace 2.2 appearance models (static")
    assert rep["aus_not_followed"] == {} and rep["aus_not_validated"] == []


def test_without_models_the_tracker_keeps_geometric_aus(no_user_models, clip_factory, tmp_path):
    from features.tracker.embedded import au_models_for
    assert au_models_for(TrackerSettings()) is None
    clip = clip_factory(tmp_path / "c.mp4", seconds=0.3, size="96x72")
    res = track_frames(iter_frames(clip), 30.0, TrackerSettings(), str(clip))
    assert res.au_source == "geometric"
    assert report(res)["au_source"].startswith("geometric proxies")
    with pytest.raises(openface_models.OpenFaceModelError, match="no OpenFace AU models"):
        track_frames(iter_frames(clip), 30.0, TrackerSettings(openface_models=str(tmp_path)), str(clip))


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@needs_models
def test_fetch_command_against_a_loopback_server(tmp_path, capsys):
    site = tmp_path / "site"
    shutil.copytree(AU_DIR, site / fetch_openface.AU_PATH)
    shutil.copy(OPENFACE / "OpenFace-license.txt", site / fetch_openface.LICENCE)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(_Quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}/"
        dest = tmp_path / "models"
        assert fetch_openface.main(["--dest", str(dest), "--base-url", base]) == 1   # not accepted
        assert "academic" in capsys.readouterr().out.lower() and not dest.exists()
        assert fetch_openface.main(["--dest", str(dest), "--base-url", base, "--accept-licence"]) == 0
        got = openface_models.locate(str(dest))
        assert got == dest / "AU_predictors"
        for model_set in ("dynamic", "static"):
            assert len(openface_models.load(got, model_set).regressors) == 17
        (site / fetch_openface.AU_PATH / "tris_68_full.txt").unlink()        # a file the server lacks
        bad = tmp_path / "bad"
        assert fetch_openface.main(["--dest", str(bad), "--base-url", base, "--accept-licence"]) == 1
        err = capsys.readouterr().err
        assert "tris_68_full.txt: HTTP 404" in err and not bad.exists()
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".bad")]   # no temp left
    finally:
        server.shutdown()
        server.server_close()


def test_running_medians_follow_openfaces_histogram_rule():
    """Medians of the binned values of every second tracked frame; after ``max_init`` tracked
    frames, the running median at each frame (compared with a direct computation)."""
    rng = np.random.default_rng(3)
    n, n_hog = 41, 6
    feats = np.concatenate([rng.uniform(0, 0.5, (n, n_hog)), rng.normal(0, 20, (n, 3))], 1)
    success = rng.random(n) > 0.2
    final, late = openface_aus.running_medians(feats, success, n_hog, max_init=10)

    def direct(upto: int) -> np.ndarray:
        upd = [i for i in range(upto + 1) if i % 2 == 0 and success[i]]
        out = np.zeros(feats.shape[1])
        for sl, nb, (lo, hi) in ((slice(0, n_hog), 1000, (-0.005, 1.0)), (slice(n_hog, None), 10000, (-60.0, 60.0))):
            b = np.clip((feats[upd, sl] - lo) * nb / (hi - lo), 0, nb - 1).astype(int)
            k = (len(upd) + 1) // 2 - 1
            out[sl] = lo + (np.sort(b, axis=0)[k] + 0.5) * (hi - lo) / nb
        return out

    assert np.allclose(final, direct(n - 1))
    rows = np.flatnonzero(success)[10:]
    assert late.shape == (len(rows), feats.shape[1])
    for j, i in enumerate(rows):
        assert np.allclose(late[j], direct(i)), i


@needs_models
@needs_build
def test_static_svr_output_on_one_frame_equals_the_openface_builds_value():
    """Frame 100 of default.wmv, on the build's own landmarks: OpenFace writes the 3-frame mean
    of the clipped static SVR outputs (frames 99-101), to 2 decimals; the landmarks it wrote (and
    we start from) are rounded to 0.1 px, which moves the AUs by a few hundredths."""
    models = openface_models.load(AU_DIR, "static")
    ref = read_openface(BUILD / "default.au_static.csv")
    raw = []
    for i, (_, frame) in enumerate(iter_frames(REAL / "default.wmv")):
        if i in (98, 99, 100):
            x = openface_aus.frame_features(frame, ref.lmk_2d[i], models).features.astype(np.float64)
            raw.append([(x - m.means) @ m.weights + m.bias for m in models.regressors])
        if i > 100:
            break
    ours = np.clip(np.array(raw), 0, 5).mean(axis=0)
    assert np.abs(ours - ref.au_r[99]).max() < 0.1
    assert np.abs(ours - ref.au_r[99]).mean() < 0.02
