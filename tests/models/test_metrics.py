"""Scores on a known confusion, t-distribution confidence intervals, DVC confusion records."""

from __future__ import annotations

import numpy as np
import pytest

from models.metrics import confusion_records, fold_scores, headline, mean_ci, summarise

Y_TRUE = np.array([0, 0, 0, 0, 1, 1, 2, 2])
Y_PRED = np.array([0, 0, 1, 2, 1, 1, 2, 0])


def test_scores_of_a_known_confusion():
    s = fold_scores(Y_TRUE, Y_PRED, 3)
    assert s["confusion"] == [[2, 1, 1], [0, 2, 0], [1, 0, 1]]
    assert s["accuracy"] == pytest.approx(5 / 8)
    assert s["uar"] == pytest.approx((0.5 + 1.0 + 0.5) / 3)
    # precision 2/3, 2/3, 1/2; recall 1/2, 1, 1/2
    assert s["f1"] == pytest.approx([4 / 7, 0.8, 0.5])
    assert s["macro_f1"] == pytest.approx((4 / 7 + 0.8 + 0.5) / 3)


def test_classes_absent_from_a_small_test_set():
    # class 2 neither occurs nor is predicted: F1 listed as 0, left out of UAR and macro-F1
    s = fold_scores(np.array([0, 1, 0, 1]), np.array([0, 1, 1, 1]), 3)
    assert s["f1"][2] == 0.0
    assert s["uar"] == pytest.approx((0.5 + 1.0) / 2)
    assert s["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)
    # a class predicted but absent counts in macro-F1 (with F1 0), not in UAR
    s = fold_scores(np.array([0, 0, 1, 1]), np.array([0, 2, 1, 1]), 3)
    assert s["uar"] == pytest.approx((0.5 + 1.0) / 2)
    assert s["macro_f1"] == pytest.approx((2 / 3 + 1.0 + 0.0) / 3)


def test_t_confidence_interval():
    ci = mean_ci([0.6, 0.7, 0.8])
    assert ci["mean"] == pytest.approx(0.7) and ci["sd"] == pytest.approx(0.1)
    half = 4.302652729911275 * 0.1 / np.sqrt(3)           # t(0.975, df=2)
    assert ci["ci95_half"] == pytest.approx(half)
    assert ci["ci95_low"] == pytest.approx(0.7 - half) and ci["ci95_high"] == pytest.approx(0.7 + half)
    assert mean_ci([0.5])["ci95_low"] is None
    with pytest.raises(ValueError):
        mean_ci([])


def test_summary_and_confusion_records():
    names = ["a", "b", "c"]
    per_fold = {0: fold_scores(Y_TRUE, Y_PRED, 3), 3: fold_scores(Y_TRUE, Y_TRUE, 3)}
    s = summarise(per_fold, names)
    assert s["n_folds"] == 2 and s["n_test_clips"] == 16
    assert s["accuracy"]["fold_0"] == pytest.approx(0.625) and s["accuracy"]["fold_3"] == 1.0
    assert s["accuracy"]["mean"] == pytest.approx(0.8125)
    assert s["pooled_accuracy"] == pytest.approx(13 / 16)
    assert s["f1"]["b"] == pytest.approx((0.8 + 1.0) / 2)
    assert all(isinstance(v, (int, float)) for k in ("accuracy", "uar", "macro_f1")
               for v in s[k].values())
    recs = confusion_records(Y_TRUE, Y_PRED, names)
    assert len(recs) == 8 and recs[2] == {"actual": "a", "predicted": "b"}


def test_headline_is_small_and_in_percent():
    names = ["a", "b", "c"]
    per_fold = {0: fold_scores(Y_TRUE, Y_PRED, 3), 1: fold_scores(Y_TRUE, Y_TRUE, 3),
                2: fold_scores(Y_TRUE, np.zeros(8, int), 3)}
    s = summarise(per_fold, names)
    h = headline(s, 76.82)
    assert set(h) == {"acc", "acc_ci", "uar", "uar_ci", "macro_f1", "macro_f1_ci", "paper"}
    assert h["acc"] == round(100 * np.mean([0.625, 1.0, 0.5]), 2)
    assert h["acc_ci"] == round(100 * s["accuracy"]["ci95_half"], 2) and h["acc_ci"] > 0
    assert h["paper"] == 76.82
    # one fold: no CI; unknown paper number: no key (DVC shows "-")
    h1 = headline(summarise({0: per_fold[0]}, names), None)
    assert set(h1) == {"acc", "uar", "macro_f1"} and h1["acc"] == 62.5
