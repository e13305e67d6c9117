"""OpenFace CSV schema: reader variants on hand-made files, clear failures, writer round trip."""

from __future__ import annotations

import numpy as np
import pytest

from features.tracks.openface import (
    AU_C,
    AU_R,
    BLOCKS,
    COLUMNS,
    DATA_BLOCKS,
    FEATURE_NEEDS,
    OpenFaceError,
    OpenFaceTrack,
    format_rows,
    gaze_angles,
    normalise_csv_text,
    read_openface,
    write_openface,
)


def _header_like_recorder(sep: str) -> str:
    """The sequence header as OpenFace's RecorderCSV::Open builds it (all outputs on)."""
    h = ["frame", "face_id", "timestamp", "confidence", "success",
         "gaze_0_x", "gaze_0_y", "gaze_0_z", "gaze_1_x", "gaze_1_y", "gaze_1_z",
         "gaze_angle_x", "gaze_angle_y"]
    for axis in ["x", "y", "X", "Y", "Z"]:
        h += [f"eye_lmk_{axis}_{i}" for i in range(56)]
    h += ["pose_Tx", "pose_Ty", "pose_Tz", "pose_Rx", "pose_Ry", "pose_Rz"]
    for axis in ["x", "y", "X", "Y", "Z"]:
        h += [f"{axis}_{i}" for i in range(68)]
    h += ["p_scale", "p_rx", "p_ry", "p_rz", "p_tx", "p_ty"] + [f"p_{i}" for i in range(34)]
    h += [f"AU{a}_r" for a in sorted(AU_R)] + [f"AU{a}_c" for a in sorted(AU_C)]
    return sep.join(h)


def _track(n: int = 6, seed: int = 0) -> OpenFaceTrack:
    rng = np.random.default_rng(seed)
    g0 = rng.normal(size=(n, 3))
    g1 = rng.normal(size=(n, 3))
    success = np.ones(n, bool)
    success[2] = False
    return OpenFaceTrack(
        path="mem", frame=np.arange(1, n + 1), timestamp=np.arange(n) / 30.0,
        confidence=rng.uniform(0.5, 1.0, n).round(2), success=success,
        gaze_0=g0, gaze_1=g1, gaze_angle=gaze_angles(g0, g1),
        eye_lmk_2d=rng.uniform(0, 640, (n, 56, 2)), eye_lmk_3d=rng.normal(0, 60, (n, 56, 3)),
        pose_T=rng.normal(0, 100, (n, 3)), pose_R=rng.normal(0, 0.3, (n, 3)),
        lmk_2d=rng.uniform(0, 640, (n, 68, 2)), lmk_3d=rng.normal(0, 60, (n, 68, 3)),
        pdm=rng.normal(0, 2, (n, 40)), au_r=rng.uniform(0, 5, (n, 17)),
        au_c=(rng.uniform(size=(n, 18)) > 0.5).astype(float), blocks=tuple(DATA_BLOCKS),
        face_id=np.zeros(n, dtype=np.int64))


def _write_rows(path, header: list[str], rows: list[list[float]], sep: str = ", ") -> None:
    lines = [sep.join(header)] + [sep.join(f"{v:g}" for v in r) for r in rows]
    path.write_text("\n".join(lines) + "\n")


def test_schema_matches_recorder_order():
    assert len(COLUMNS) == 714
    assert ",".join(COLUMNS) == _header_like_recorder(",")
    assert sum(len(BLOCKS[b]) for b in FEATURE_NEEDS["kpd_face"]) == 204 + 17 + 18


def test_writer_exact_header_and_number_format(tmp_path):
    t = _track()
    t.frame[0], t.timestamp[0], t.confidence[0] = 7, 0.2, 0.875
    t.gaze_0[0] = [0.1234567, -0.5, 0.25]
    t.gaze_angle[0] = [0.12345, -0.0004]
    t.pose_T[0], t.pose_R[0] = [1.26, -2.0, 612.34], [0.1234, 0.0, -0.5]
    t.au_r[0, 0], t.au_c[0, 0] = 2.3456, 1.0
    path = tmp_path / "full.csv"
    write_openface(path, t)
    lines = path.read_text().splitlines()
    assert lines[0] == _header_like_recorder(",")
    fields = lines[1].split(",")
    assert len(fields) == 714 and len(lines) == 1 + t.n
    assert fields[:8] == ["7", "0", "0.200", "0.88", "1", "0.123457", "-0.500000", "0.250000"]
    assert fields[11:13] == ["0.123", "-0.000"]           # gaze angles: 3 decimals
    pose = COLUMNS.index("pose_Tx")
    assert fields[pose:pose + 6] == ["1.3", "-2.0", "612.3", "0.123", "0.000", "-0.500"]
    assert fields[COLUMNS.index("AU01_r")] == "2.35"
    assert fields[COLUMNS.index("AU01_c")] == "1.0"
    assert lines[3].split(",")[4] == "0"                   # success 0 row kept and marked
    assert all(len(f.split(".")[1]) == 1 for f in fields[13:13 + 280])   # eye landmarks: 1 dp


def test_round_trip_both_separators(tmp_path):
    t = _track()
    for sep in [",", ", "]:
        path = tmp_path / f"rt{len(sep)}.csv"
        write_openface(path, t, sep=sep)
        if sep == ", ":
            assert path.read_text().splitlines()[0] == _header_like_recorder(", ")
        r = read_openface(path)
        assert r.variant == "openface2" and r.sep == sep and r.blocks == tuple(DATA_BLOCKS)
        assert r.n == t.n and list(r.success) == list(t.success) and not r.success[2]
        np.testing.assert_allclose(r.lmk_2d, t.lmk_2d, atol=0.05 + 1e-9)
        np.testing.assert_allclose(r.eye_lmk_3d, t.eye_lmk_3d, atol=0.05 + 1e-9)
        np.testing.assert_allclose(r.gaze_0, t.gaze_0, atol=5e-7)
        np.testing.assert_allclose(r.au_r, t.au_r, atol=0.005 + 1e-9)
        np.testing.assert_array_equal(r.frame_index, np.arange(t.n))
    # re-writing what was read gives the same bytes (formatting is idempotent)
    again = tmp_path / "again.csv"
    write_openface(again, read_openface(tmp_path / "rt1.csv"))
    assert again.read_bytes() == (tmp_path / "rt1.csv").read_bytes()


def test_partial_outputs_au_only_and_pose_au(tmp_path):
    basic = BLOCKS["basic"]
    au = BLOCKS["au_r"] + BLOCKS["au_c"]
    rows = [[i + 1, 0, i / 30, 0.98, 1] + [0.5] * 17 + [1.0] * 18 for i in range(4)]
    p = tmp_path / "au_only.csv"
    _write_rows(p, basic + au, rows)
    t = read_openface(p)
    assert t.variant == "partial" and t.blocks == ("au_r", "au_c") and t.sep == ", "
    assert t.au_r.shape == (4, 17) and t.au_c.shape == (4, 18) and t.lmk_3d is None
    with pytest.raises(OpenFaceError, match=r"kpd_face needs block\(s\) lmk_3d \(3D landmarks\)"):
        t.require(*FEATURE_NEEDS["kpd_face"], feature="kpd_face")
    with pytest.raises(OpenFaceError, match="au_only.csv"):
        t.require("pose", feature="pose")
    t.require(*FEATURE_NEEDS["au"], feature="au")           # present: no error
    assert "absent gaze" in t.describe()

    p2 = tmp_path / "pose_au.csv"
    rows2 = [[i + 1, 0, i / 30, 0.9, 1, 1, 2, 600, 0.1, 0.2, 0.3] + [0.5] * 17 + [0.0] * 18
             for i in range(3)]
    _write_rows(p2, basic + BLOCKS["pose"] + au, rows2, sep=",")
    t2 = read_openface(p2)
    assert t2.blocks == ("pose", "au_r", "au_c") and t2.sep == ","
    np.testing.assert_allclose(t2.pose_T[0], [1, 2, 600])
    np.testing.assert_allclose(t2.pose_R[2], [0.1, 0.2, 0.3])


def test_ravdess_release_without_face_id_and_success(tmp_path):
    t = _track(5)
    t.confidence[:] = [0.98, 0.97, 0.2, 0.95, 0.0]
    full = tmp_path / "full.csv"
    write_openface(full, t, sep=", ")
    header, *rows = full.read_text().splitlines()
    cols = header.split(", ")
    keep = [i for i, c in enumerate(cols) if c not in ("face_id", "success")]
    text = "\n".join(", ".join(line.split(", ")[i] for i in keep) for line in [header] + rows)
    p = tmp_path / "01-01-03-01-01-01-05.csv"
    p.write_text(text + "\n")
    assert len(keep) == 712
    r = read_openface(p)
    assert r.variant == "ravdess-release" and r.blocks == tuple(DATA_BLOCKS) and r.face_id is None
    assert list(r.success) == [True, True, False, True, False]
    assert any("success = confidence" in note for note in r.notes)
    np.testing.assert_allclose(r.lmk_3d, t.lmk_3d, atol=0.05 + 1e-9)


def test_openface1_files_431_columns(tmp_path):
    n = 4
    rng = np.random.default_rng(3)
    header = (["frame", "timestamp", "confidence", "success"] + BLOCKS["gaze"][:6]
              + BLOCKS["pose"] + BLOCKS["lmk_2d"] + BLOCKS["lmk_3d"] + BLOCKS["pdm"]
              + BLOCKS["au_r"] + BLOCKS["au_c"])
    assert len(header) == 431
    rows = []
    for i in range(n):
        g = [0.1, -0.2, -0.97, 0.05, -0.1, -0.99]
        rows.append([i + 1, i / 30, 0.9, 1] + g + list(rng.normal(size=431 - 10)))
    p = tmp_path / "of1.csv"
    _write_rows(p, header, rows)
    t = read_openface(p)
    assert t.variant == "openface1"
    assert "gaze" in t.blocks and "eye_lmk_2d" not in t.blocks and "eye_lmk_3d" not in t.blocks
    expected = [np.arctan2(0.075, 0.98), np.arctan2(-0.15, 0.98)]
    np.testing.assert_allclose(t.gaze_angle[0], expected, atol=1e-9)
    with pytest.raises(OpenFaceError, match=r"kpd_eyes needs block\(s\) eye_lmk_3d"):
        t.require(*FEATURE_NEEDS["kpd_eyes"], feature="kpd_eyes")


def test_truncated_file_fails_clearly(tmp_path):
    p = tmp_path / "full.csv"
    write_openface(p, _track(4))
    text = p.read_text()
    cut = tmp_path / "cut.csv"
    cut.write_text(text[: len(text) - 2000])               # the last row loses its tail
    with pytest.raises(OpenFaceError, match=r"cut\.csv: the last row has \d+ of 714 fields "
                                            r"\(truncated file\?\)"):
        read_openface(cut)
    blank_tail = tmp_path / "blank_tail.csv"                  # all fields there, last ones empty
    lines = text.splitlines()
    lines[-1] = ",".join(lines[-1].split(",")[:-3] + ["", "", ""])
    blank_tail.write_text("\n".join(lines) + "\n")
    with pytest.raises(OpenFaceError, match=r"block au_c has an empty or non-numeric value in column "
                                            r"AU26_c, line 5 of the file \(the last row: truncated"):
        read_openface(blank_tail)
    only_header = tmp_path / "header.csv"
    only_header.write_text(text.splitlines()[0] + "\n")
    with pytest.raises(OpenFaceError, match="header only"):
        read_openface(only_header)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(OpenFaceError, match="empty file"):
        read_openface(empty)
    with pytest.raises(OpenFaceError, match="not found"):
        read_openface(tmp_path / "absent.csv")


def test_missing_columns_and_foreign_files_fail_clearly(tmp_path):
    p = tmp_path / "full.csv"
    write_openface(p, _track(3))
    header, *rows = p.read_text().splitlines()
    cols = header.split(",")
    drop = cols.index("Z_5")
    text = "\n".join(",".join(v for i, v in enumerate(line.split(",")) if i != drop)
                     for line in [header] + rows)
    bad = tmp_path / "missing.csv"
    bad.write_text(text + "\n")
    with pytest.raises(OpenFaceError, match=r"missing\.csv: block lmk_3d \(3D landmarks\) is "
                                            r"incomplete: missing \['Z_5'\]"):
        read_openface(bad)
    foreign = tmp_path / "foreign.csv"
    foreign.write_text("frame,a,b\n1,2,3\n")
    with pytest.raises(OpenFaceError, match="not an OpenFace CSV"):
        read_openface(foreign)
    image_mode = tmp_path / "img.csv"
    image_mode.write_text("face, confidence, AU01_r\n0, 0.9, 1.0\n")
    with pytest.raises(OpenFaceError, match="image-mode"):
        read_openface(image_mode)
    text_cell = tmp_path / "text.csv"
    rows2 = p.read_text().splitlines()
    f = rows2[2].split(",")
    f[COLUMNS.index("x_3")] = "abc"
    rows2[2] = ",".join(f)
    text_cell.write_text("\n".join(rows2) + "\n")
    with pytest.raises(OpenFaceError, match="block lmk_2d has an empty or non-numeric value in "
                                            "column x_3, line 3"):
        read_openface(text_cell)
    f[COLUMNS.index("success")] = "0"                         # the same cell in an untracked row
    f[COLUMNS.index("pose_Tx")] = "nan"
    rows2[2] = ",".join(f)
    text_cell.write_text("\n".join(rows2) + "\n")
    t = read_openface(text_cell)
    assert not t.success[1] and t.lmk_2d[1, 3, 0] == 0 and t.pose_T[1, 0] == 0
    assert "2 empty/NaN values in untracked (success 0) rows set to 0" in t.describe()


def test_multi_face_file_keeps_the_most_tracked_face(tmp_path):
    basic = BLOCKS["basic"]
    au = BLOCKS["au_r"] + BLOCKS["au_c"]
    rows = []
    for i in range(3):
        rows.append([i + 1, 0, i / 30, 0.9, 1 if i == 0 else 0] + [1.0] * 35)
        rows.append([i + 1, 1, i / 30, 0.9, 1] + [2.0] * 35)
    p = tmp_path / "multi.csv"
    _write_rows(p, basic + au, rows)
    t = read_openface(p)
    assert t.n == 3 and set(t.face_id) == {1} and t.success.all()
    assert np.all(t.au_r == 2.0) and "kept face_id 1" in t.describe()


def test_format_rows_is_exact_and_rejects_nan():
    m = np.array([[1.0, 0.0049999, -0.04, 2.5], [12.0, 1.23456, 3.14159, 0.5]])
    assert format_rows(m, ["%d", "%.2f", "%.1f", "%.1f"]) == "1,0.00,-0.0,2.5\n12,1.23,3.1,0.5\n"
    with pytest.raises(ValueError, match="non-finite"):
        format_rows(np.array([[np.nan]]), ["%.1f"])


def test_normalise_text_keeps_values():
    src = "frame, face_id, AU01_r\r\n1, 0, 0.50\r\n2, 0,   1.25\r\n"
    assert normalise_csv_text(src) == "frame,face_id,AU01_r\n1,0,0.50\n2,0,1.25\n"
