"""bench/audio_grid.py: every grid override is a valid params.yaml setting, and the table reads
the experiments' committed reports (a git repository with refs/exps made here)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from features.core.config import ParamsError, _yaml12, read_yaml, validate

REPO = Path(__file__).resolve().parents[1]


def load_grid():
    spec = importlib.util.spec_from_file_location("audio_grid", REPO / "bench" / "audio_grid.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def leaf_exists(params: dict, dotted: str) -> bool:
    node = params
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


@pytest.mark.parametrize("name", list(load_grid().GRID))
def test_every_grid_experiment_is_a_valid_audio_only_params_file(name):
    """A typo in a key or value would otherwise surface only when that queued run starts."""
    grid = load_grid()
    params = read_yaml(REPO / "params.yaml")
    for key, value in {**grid.BASE, "dataset.root": "/somewhere"}.items():
        assert leaf_exists(params, key), key
        grid.set_key(params, key, value)
    for override in grid.GRID[name]:
        key, text = override.split("=", 1)
        assert leaf_exists(params, key), f"{name}: {key} is not a params.yaml key"
        grid.set_key(params, key, _yaml12(text))
    validate(params)


def test_validation_would_catch_a_bad_override():
    grid = load_grid()
    params = read_yaml(REPO / "params.yaml")
    grid.set_key(params, "train.standardise", "speaker")
    with pytest.raises(ParamsError):
        validate(params)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd,
                          check=True, capture_output=True, text=True).stdout.strip()


def commit_reports(repo: Path, folds: list[float], per_seed: list[list[float]],
                   ids: list[int] | None = None, values: list[int] | None = None) -> str:
    """One commit holding reports/scores.json and reports/train/fold_K.json as the stages write them."""
    ids = ids or list(range(len(folds)))
    values = values or list(range(len(per_seed[0])))
    acc = {f"fold_{k}": a for k, a in zip(ids, folds)}
    mean = sum(folds) / len(folds)
    scores = {"accuracy": {"mean": mean, "ci95_half": 0.05, **acc},
              "uar": {"mean": mean - 0.01, **acc}, "macro_f1": {"mean": mean - 0.02, **acc}}
    (repo / "reports" / "train").mkdir(parents=True, exist_ok=True)
    (repo / "reports" / "scores.json").write_text(json.dumps(scores))
    for k, seeds in zip(ids, per_seed):
        (repo / "reports" / "train" / f"fold_{k}.json").write_text(
            json.dumps({"seeds": {"values": values, **{m: {"per_seed": [a - d for a in seeds]}
                                                         for m, d in (("accuracy", 0), ("uar", 0.01),
                                                                      ("macro_f1", 0.02))}}}))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "exp")
    return git(repo, "rev-parse", "HEAD")


def test_table_reads_every_experiment_with_its_seed_spread(tmp_path, capsys):
    grid = load_grid()
    git(tmp_path, "init", "-q")
    one = commit_reports(tmp_path, [0.6, 0.5, 0.7, 0.55, 0.65], [[0.6], [0.5], [0.7], [0.55], [0.65]])
    three = commit_reports(tmp_path, [0.7] * 5,
                           [[0.6, 0.7, 0.8], [0.6, 0.7, 0.8], [0.6, 0.7, 0.8], [0.6, 0.7, 0.8],
                            [0.6, 0.7, 0.8]])
    git(tmp_path, "update-ref", "refs/exps/ab/cdef/paper", one)
    git(tmp_path, "update-ref", "refs/exps/ab/cdef/seeds3", three)
    part = commit_reports(tmp_path, [0.62, 0.58], [[0.62], [0.58]], ids=[3, 4])
    git(tmp_path, "update-ref", "refs/exps/ab/cdef/thesis-e1@f34", part)
    git(tmp_path, "update-ref", "refs/exps/celery/stash", one)   # the queue's stash: not a run
    first = commit_reports(tmp_path, [0.70, 0.60, 0.65], [[0.7], [0.6], [0.65]], ids=[0, 1, 2])
    git(tmp_path, "update-ref", "refs/exps/ab/cdef/thesis-e1@f012", first)
    rows = {r["name"]: r for r in grid.table(tmp_path, markdown=True)}
    assert sorted(rows) == ["paper", "seeds3", "thesis-e1 (pooled f012 + f34)", "thesis-e1@f012",
                            "thesis-e1@f34"]
    both = rows["thesis-e1 (pooled f012 + f34)"]
    assert both["fold_ids"] == [0, 1, 2, 3, 4]
    assert both["folds"] == pytest.approx([70, 60, 65, 62, 58])
    assert both["mean"] == pytest.approx(63.0)
    assert both["ci"] == pytest.approx(2.776445 * np.std([70, 60, 65, 62, 58], ddof=1) / 5 ** 0.5)
    assert rows["paper"]["folds"] == pytest.approx([60, 50, 70, 55, 65])
    assert rows["paper"]["mean"] == pytest.approx(60.0)
    assert rows["paper"]["seeds"] is None
    n, mean, sd = rows["seeds3"]["seeds"]
    assert (n, mean) == (3, pytest.approx(70.0))
    assert sd == pytest.approx(10.0)      # sample sd of 60, 70, 80
    out = capsys.readouterr().out
    assert "| paper | (base) | 60.0 / 50.0 / 70.0 / 55.0 / 65.0 | 60.0 |" in out
    assert "3 seeds: 70.0 ± 10.0" in out
    assert rows["thesis-e1@f34"]["fold_ids"] == [3, 4]
    assert "| thesis-e1@f34 | features.audio.samples=100000 " in out
    assert "| 3: 62.0 / 4: 58.0 | 60.0 |" in out


def test_prepare_reuses_its_own_workdir_and_refuses_any_other(tmp_path, capsys):
    grid = load_grid()
    data = tmp_path / "audio"
    (data / "Actor_01").mkdir(parents=True)
    (data / "Actor_01" / "03-01-01-01-01-01-01.wav").write_bytes(b"")
    with pytest.raises(SystemExit, match="no Actor_XX/03-01"):
        grid.prepare(tmp_path / "nothing", tmp_path / "w0", 1)
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q")
    (work / "params.yaml").write_text(f"dataset:\n  root: {data}\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "something else")
    with pytest.raises(SystemExit, match="not a prepared grid"):
        grid.prepare(data, work, 1)
    git(work, "commit", "-q", "--allow-empty", "-m", grid.PREPARED)
    grid.prepare(data, work, 1)               # returns without cloning or running dvc
    assert "already prepared" in capsys.readouterr().out
    (work / "params.yaml").write_text("dataset:\n  root: /elsewhere\n")
    with pytest.raises(SystemExit, match="not a prepared grid"):
        grid.prepare(data, work, 1)


def test_seed_pools_gather_one_recipe_over_runs_with_disjoint_seeds(tmp_path, capsys):
    """std-actor (seed 0) + actor-seeds12 (seeds 1, 2): one pooled row of the three single models;
    a run whose seeds overlap, or one with other overrides, is not pooled."""
    grid = load_grid()
    git(tmp_path, "init", "-q")
    zero = commit_reports(tmp_path, [0.6] * 5, [[0.6]] * 5)
    pair = commit_reports(tmp_path, [0.75] * 5, [[0.7, 0.8]] * 5, values=[1, 2])
    git(tmp_path, "update-ref", "refs/exps/ab/cdef/std-actor", zero)
    git(tmp_path, "update-ref", "refs/exps/ab/cdef/actor-seeds12", pair)
    git(tmp_path, "update-ref", "refs/exps/ab/cdef/paper", zero)
    rows = {r["name"]: r for r in grid.table(tmp_path, markdown=True)}
    both = rows["std-actor + actor-seeds12 (seeds 0, 1, 2, single models)"]
    assert both["folds"] == pytest.approx([70.0] * 5)          # (60 + 70 + 80) / 3 per fold
    assert both["mean"] == pytest.approx(70.0)
    assert both["uar"] == pytest.approx(69.0) and both["f1"] == pytest.approx(68.0)
    n, mean, sd = both["seeds"]
    assert (n, mean, sd) == (3, pytest.approx(70.0), pytest.approx(10.0))
    assert rows["actor-seeds12"]["mean"] == pytest.approx(75.0)   # the 2-seed posterior average
    assert not [k for k in rows if k.startswith("paper +") or k.endswith("+ paper")]
    out = capsys.readouterr().out
    assert "| std-actor + actor-seeds12 (seeds 0, 1, 2, single models) | train.standardise=actor " \
           "(train.seed varies) | 70.0 / 70.0 / 70.0 / 70.0 / 70.0 | 70.0 |" in out
    assert "3 seeds: 70.0 ± 10.0" in out
    grid.GRID["actor-seeds01"] = ["train.standardise=actor", "train.seeds=2"]   # seeds 0, 1
    try:
        git(tmp_path, "update-ref", "refs/exps/ab/cdef/actor-seeds01", pair)
        rows = {r["name"] for r in grid.table(tmp_path, markdown=False)}
    finally:
        del grid.GRID["actor-seeds01"]
    assert not [k for k in rows if "single models" in k]      # seed 0 twice: nothing pooled


def test_seed_pools_take_a_split_experiment_by_its_pooled_row(tmp_path):
    """actor-topdb80 (seed 0, whole) + actor-topdb80-seed1 run as @f012 and @f34: one pool."""
    grid = load_grid()
    git(tmp_path, "init", "-q")
    zero = commit_reports(tmp_path, [0.6] * 5, [[0.6]] * 5)
    first = commit_reports(tmp_path, [0.7] * 3, [[0.7]] * 3, ids=[0, 1, 2], values=[1])
    last = commit_reports(tmp_path, [0.8] * 2, [[0.8]] * 2, ids=[3, 4], values=[1])
    git(tmp_path, "update-ref", "refs/exps/ab/cdef/actor-topdb80", zero)
    git(tmp_path, "update-ref", "refs/exps/ab/cdef/actor-topdb80-seed1@f012", first)
    git(tmp_path, "update-ref", "refs/exps/ab/cdef/actor-topdb80-seed1@f34", last)
    rows = {r["name"]: r for r in grid.table(tmp_path, markdown=False)}
    both = rows["actor-topdb80 + actor-topdb80-seed1 (pooled f012 + f34) (seeds 0, 1, single models)"]
    assert both["folds"] == pytest.approx([65, 65, 65, 70, 70])
    n, mean, sd = both["seeds"]
    assert (n, mean) == (2, pytest.approx(67.0))      # seed 0: 60; seed 1: (3*70 + 2*80) / 5 = 74
    assert sd == pytest.approx(np.std([60, 74], ddof=1))


def commit_predictions(repo: Path, posteriors: dict[int, np.ndarray], labels: np.ndarray) -> None:
    """data/predictions/fold_K.parquet into a DVC-style cache, and a dvc.lock naming their md5s
    (staged; the next commit_reports commits them with the reports)."""
    import hashlib

    import pandas as pd
    outs = []
    for k, post in posteriors.items():
        df = pd.DataFrame({"video_id": [f"v{i:02d}" for i in range(len(labels))], "label": labels,
                           **{f"p_c{c}": post[:, c] for c in range(post.shape[1])}})
        tmp = repo / "tmp.parquet"
        df.sample(frac=1.0, random_state=k).to_parquet(tmp)     # row order differs per run
        md5 = hashlib.md5(tmp.read_bytes()).hexdigest()
        dest = repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp.rename(dest)
        outs.append(f"    - path: data/predictions/fold_{k}.parquet\n      hash: md5\n      md5: {md5}\n")
    (repo / ".gitignore").write_text(".dvc/cache\n")
    (repo / "dvc.lock").write_text("schema: '2.0'\nstages:\n" + "".join(
        f"  train@{k}:\n    cmd: python -m stages.train {k}\n    outs:\n{o}"
        for k, o in zip(posteriors, outs)))


def test_seed_pool_ensemble_scores_the_averaged_cached_posteriors(tmp_path):
    """Seed 0 (one model) + seeds 1, 2 (their mean already): the ensemble weights them 1 : 2, the
    mean of three models, which is what train.seeds=3 reports; a missing cache gives no row."""
    grid = load_grid()
    git(tmp_path, "init", "-q")
    labels = np.array([0, 1, 2, 0, 1, 2])
    # seed 0 right on clips 0-2 only; seeds 1-2 (mean) right on clips 3-5 only, weakly on 0-2
    zero = np.array([[.9, .05, .05], [.05, .9, .05], [.05, .05, .9]] + [[.1, .1, .8], [.8, .1, .1], [.1, .8, .1]])
    pair = np.array([[.3, .4, .3], [.3, .3, .4], [.4, .3, .3]] + [[.6, .2, .2], [.2, .6, .2], [.2, .2, .6]])
    commit_predictions(tmp_path, {0: zero, 1: zero}, labels)
    a = commit_reports(tmp_path, [0.5, 0.5], [[0.5], [0.5]])
    commit_predictions(tmp_path, {0: pair, 1: pair}, labels)
    b = commit_reports(tmp_path, [0.5, 0.5], [[0.4, 0.6], [0.4, 0.6]], values=[1, 2])
    git(tmp_path, "update-ref", "refs/exps/ab/cdef/std-actor", a)
    git(tmp_path, "update-ref", "refs/exps/ab/cdef/actor-seeds12", b)
    rows = {r["name"]: r for r in grid.table(tmp_path, markdown=False)}
    ens = rows["std-actor + actor-seeds12 (seeds 0, 1, 2, posterior average)"]
    mean3 = (zero + 2 * pair) / 3
    expected = 100 * float(np.mean(mean3.argmax(axis=1) == labels))
    assert expected != 100 * float(np.mean(((zero + pair) / 2).argmax(axis=1) == labels))  # weights matter
    assert ens["folds"] == pytest.approx([expected, expected])
    assert ens["overrides"] == "train.standardise=actor train.seeds=3"
    for f in (tmp_path / ".dvc" / "cache").rglob("*"):
        if f.is_file():
            f.unlink()
    names = [r["name"] for r in grid.table(tmp_path, markdown=False)]
    assert "std-actor + actor-seeds12 (seeds 0, 1, 2, single models)" in names
    assert not [n for n in names if "posterior average" in n]



def test_subset_ensembles_score_every_pair_of_a_three_seed_pool(tmp_path, capsys):
    """Seeds 0, 1, 2 run separately: one row averages the three pairs' posterior-average scores
    (what a train.seeds=2 user can expect) and gives their spread; the best pair is not chosen."""
    grid = load_grid()
    git(tmp_path, "init", "-q")
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    rng = np.random.default_rng(3)
    post = {s: rng.dirichlet(np.ones(3), size=len(labels)) for s in range(3)}
    shas = []
    for s in range(3):
        commit_predictions(tmp_path, {0: post[s], 1: post[s][::-1]}, labels)
        shas.append(commit_reports(tmp_path, [0.5, 0.5], [[0.5], [0.5]], values=[s]))
    for s, name in enumerate(["topdb80-std-none", "topdb80-std-none-seed1", "topdb80-std-none-seed2"]):
        git(tmp_path, "update-ref", f"refs/exps/ab/cdef/{name}", shas[s])
    rows = {r["name"]: r for r in grid.table(tmp_path, markdown=True)}

    def acc(p, y):
        return 100 * float(np.mean(p.argmax(axis=1) == y))
    pairs = [(0, 1), (0, 2), (1, 2)]
    fold0 = [acc((post[a] + post[b]) / 2, labels) for a, b in pairs]
    fold1 = [acc((post[a][::-1] + post[b][::-1]) / 2, labels) for a, b in pairs]
    assert len(set(fold0)) > 1                         # the pairs really differ
    means = [(x + y) / 2 for x, y in zip(fold0, fold1)]
    row = rows["topdb80-std-none + topdb80-std-none-seed1 + topdb80-std-none-seed2 "
               "(every 2 of seeds 0, 1, 2, posterior average)"]
    assert row["folds"] == pytest.approx([np.mean(fold0), np.mean(fold1)])
    assert row["mean"] == pytest.approx(np.mean(means))
    assert row["overrides"] == ("features.lms.top_db=80 train.standardise=none train.seeds=2 "
                                "(train.seed varies)")
    out = capsys.readouterr().out
    assert f"3 ensembles: {np.mean(means):.1f} ± {np.std(means, ddof=1):.1f} " \
           f"({min(means):.1f}-{max(means):.1f})" in out
    assert not [n for n in rows if "every 3 of" in n]  # all three seeds: the pool's own row


def test_aac_copy_round_trips_every_clip_keeping_rate_length_and_timing(tmp_path):
    """Amendment 9's AAC copies: same names, rate and length, no shift, the signal kept (AAC at
    128 kbit/s), only the speech files; a broken file is named and leaves nothing behind."""
    from features.media.audio import decode_audio, write_audio

    grid = load_grid()
    sr = 48_000
    t = np.arange(int(0.8 * sr)) / sr
    chirp = 0.3 * np.sin(2 * np.pi * (200 + 1500 * t) * t) * np.hanning(len(t))
    src, out = tmp_path / "wav", tmp_path / "aac"
    name = "Actor_01/03-01-05-01-01-01-01.wav"
    write_audio(src / name, chirp.astype(np.float32), sr)
    (src / "Actor_01" / "notes.txt").write_text("not audio")
    grid.aac_copy(src, out, "128k", jobs=1)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [name]
    a, b = decode_audio(src / name)[:, 0], decode_audio(out / name)[:, 0]
    assert len(b) == len(a)
    lag = int(np.argmax(np.correlate(b, a, "full"))) - (len(a) - 1)
    assert lag == 0
    assert np.sqrt(np.mean((a - b) ** 2)) < 0.05 * np.sqrt(np.mean(a ** 2))
    assert not np.array_equal(a, b)                          # it did go through the codec

    bad = src / "Actor_02" / "03-01-01-01-01-01-02.wav"
    bad.parent.mkdir()
    bad.write_bytes(b"RIFF not a wav")
    with pytest.raises(SystemExit, match="03-01-01-01-01-01-02.wav: ffmpeg failed"):
        grid.aac_copy(src, out, "128k", jobs=1)
    assert [p.name for p in out.rglob("*") if p.is_file() and p.parent.name == "Actor_02"] == []
