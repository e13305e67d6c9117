"""OpenFace CSVs with missing columns or broken rows, fed to the kpd and facs stages.

Starts from the tracked broken corpus (:func:`conftest.pipeline`) and edits one clip's CSV the way
a user's own OpenFace run or an interrupted copy would: a whole block of columns absent, one column
of a block absent, the file cut mid-row, a non-numeric cell.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest

from features.core.problems import read_problems
from features.core.store import list_ids
from features.tracks.openface import BLOCKS, OpenFaceError
from tests.robustness.conftest import run_stage
from tests.robustness.corpus import KEPT, MONO, NO_FACE
from tests.robustness.media import hidden_files, stage_cmd, stage_env

CSV = Path("data/openface/Actor_01") / f"{MONO}.csv"
KPD = Path("data/features/kpd_face/Actor_01.h5")
AU = Path("data/features/au/Actor_01.h5")


def test_missing_block_stops_the_stage_naming_block_and_file(pipeline_copy):
    kpd_before = KPD.read_bytes()
    df = pd.read_csv(CSV)
    df.drop(columns=BLOCKS["lmk_3d"]).to_csv(CSV, index=False)
    with pytest.raises(OpenFaceError, match=rf"kpd_face needs lmk_3d; Actor_01's CSVs have .* only "
                                            rf"\(1 file\(s\): {CSV}\)"):
        run_stage("kpd", ["face", "01"])
    # a feature that does not need the block still works from the same CSVs
    assert run_stage("facs", ["au", "01"]) == 0 and list_ids(AU) == [v for v in KEPT if v != NO_FACE]
    au_before = AU.read_bytes()
    # one column of a block missing is the block missing
    df.drop(columns=["AU45_r"]).to_csv(CSV, index=False)
    with pytest.raises(OpenFaceError, match=rf"au needs au_r; .*{CSV}"):
        run_stage("facs", ["au", "01"])
    # the failed runs left the earlier outputs whole and no temporary file
    assert KPD.read_bytes() == kpd_before and AU.read_bytes() == au_before
    assert hidden_files(Path("data")) == [] and hidden_files(Path("reports")) == []
    # from the command line: a non-zero exit whose last line says what and where (kpd_face
    # with neutral_video normalisation picks the reference frame by the AUs: it needs au_r too)
    proc = subprocess.run(stage_cmd("kpd", "face", "01"), capture_output=True, text=True,
                          env=stage_env(), timeout=120)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("features.tracks.openface.OpenFaceError: kpd_face needs au_r") and str(CSV) in last


@pytest.mark.parametrize("damage, message", [
    ("cut", r"the last row has \d+ of 714 fields \(truncated file\?\)"),
    ("cell", r"block lmk_3d has an empty or non-numeric value in column Y_5, line 4 of the file"),
], ids=["cut", "cell"])
def test_broken_rows_skip_the_clip_and_report_it(pipeline_copy, damage, message):
    text = CSV.read_text()
    if damage == "cut":
        CSV.write_text(text[: len(text) * 6 // 10])
    else:
        lines = text.splitlines(keepends=True)
        header = lines[0].rstrip("\n").split(",")
        cells = lines[3].rstrip("\n").split(",")
        cells[header.index("Y_5")] = "nan?"
        lines[3] = ",".join(cells) + "\n"
        CSV.write_text("".join(lines))
    assert run_stage("kpd", ["face", "01"]) == 0
    assert list_ids(KPD) == [v for v in KEPT if v not in (MONO, NO_FACE)]
    rows = {r["video_id"]: r for r in read_problems("reports/problems/kpd_face/Actor_01.csv")}
    assert rows[MONO]["action"] == "skipped" and rows[MONO]["path"] == str(CSV)
    assert pd.Series([rows[MONO]["problem"]]).str.contains(message).all(), rows[MONO]["problem"]
