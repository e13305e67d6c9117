import pytest

from features.core.config import load_params
from features.core.ravdess import (
    PAPER_FOLDS,
    NameError_,
    fold_of_actor,
    neutral_reference_id,
    parse_name,
    validate_folds,
)


def test_parse_all_fields():
    c = parse_name("data/Actor_14/01-01-06-02-01-02-14.mp4")
    assert (c.modality, c.vocal_channel, c.emotion, c.intensity, c.statement, c.repetition,
            c.actor) == (1, 1, 6, 2, 1, 2, 14)
    assert c.video_id == "01-01-06-02-01-02-14"
    assert c.emotion_name == "fearful" and c.gender == "female"
    row = c.as_row()
    assert row["modality_name"] == "audio-video" and row["intensity_name"] == "strong"
    assert parse_name("03-01-01-01-02-01-07.wav").gender == "male"


@pytest.mark.parametrize("name, field", [
    ("01-01-09-01-01-01-01.mp4", "emotion"),
    ("04-01-01-01-01-01-01.mp4", "modality"),
    ("01-03-01-01-01-01-01.mp4", "vocal channel"),
    ("01-01-02-03-01-01-01.mp4", "intensity"),
    ("01-01-02-01-03-01-01.mp4", "statement"),
    ("01-01-02-01-01-03-01.mp4", "repetition"),
    ("01-01-02-01-01-01-25.mp4", "actor"),
    ("01-01-01-02-01-01-01.mp4", "neutral has no strong"),
    ("clip.mp4", "not a RAVDESS name"),
    ("01-01-02-01-01-01.mp4", "not a RAVDESS name"),
])
def test_bad_names_name_the_field(name, field):
    with pytest.raises(NameError_, match=field):
        parse_name(name)


def test_folds_cover_all_actors_as_in_spec():
    validate_folds(PAPER_FOLDS)
    expected = {2: 0, 5: 0, 14: 0, 15: 0, 16: 0, 3: 1, 6: 1, 7: 1, 13: 1, 18: 1, 10: 2, 11: 2,
                12: 2, 19: 2, 20: 2, 8: 3, 17: 3, 21: 3, 23: 3, 24: 3, 1: 4, 4: 4, 9: 4, 22: 4}
    assert {a: fold_of_actor(a) for a in range(1, 25)} == expected
    assert load_params()["dataset"]["folds"] == PAPER_FOLDS


def test_bad_folds_rejected():
    with pytest.raises(ValueError):
        validate_folds([[1, 2], [2, 3]])
    with pytest.raises(ValueError):
        fold_of_actor(30)


def test_neutral_reference():
    assert neutral_reference_id(parse_name("01-01-05-02-02-02-11")) == "01-01-01-01-02-01-11"
