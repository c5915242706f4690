"""The score cache: scores per model and pixel hash, reused by `score`, `queue` and the app's
scoring, robust to a damaged or newer cache file."""

from __future__ import annotations

import os
import shutil
import sqlite3
import warnings
from pathlib import Path

import numpy as np
import pytest
from support.cli import run_cli
from support.fakes import FakeClassifier, ViewsFakeClassifier
from support.patches import make_folder

from pathview.io import list_patches
from pathview.scoring import (
    ScoreCache,
    ScoreCacheWarning,
    cache_path_for_folder,
    iter_score_batches,
    lookup_scores,
    score_folder,
)
from pathview.scoring.cache import CACHE_FILE_NAME, CACHE_VERSION, FileKey, model_key
from pathview.store.reviews import fallback_store_path


@pytest.fixture
def folder(tmp_path: Path, data_dir: Path) -> Path:
    out = tmp_path / "patches"
    make_folder(out, data_dir / "kaggle", 8)
    return out


def open_cache(path: Path) -> ScoreCache:
    cache = ScoreCache.open(path)
    assert cache is not None
    return cache


def test_scores_round_trip_and_a_tta_run_fills_the_single_view(tmp_path: Path) -> None:
    with open_cache(tmp_path / "c.sqlite") as cache:
        cache.put_scores("m", ["a", "b"], np.array([0.1, 0.9]), tta=False)
        views = np.tile(np.linspace(0.2, 0.9, 8, dtype=np.float32), (2, 1))
        cache.put_scores("m", ["b", "c"], np.array([0.5, 0.6]), True, np.array([0.1, 0.2]), views)
        rows = cache.scores("m")
        assert cache.scores("other model") == {}
    assert rows["a"].p == pytest.approx(0.1) and rows["a"].tta_p is None
    # b: its single-view P is replaced by the identity view of the TTA run, TTA added
    assert rows["b"].p == pytest.approx(0.2) and rows["b"].tta_p == pytest.approx(0.5)
    assert rows["b"].spread == pytest.approx(0.1)
    assert rows["c"].views is not None
    np.testing.assert_array_equal(rows["c"].views, views[1])


def test_a_single_view_run_keeps_the_tta_columns(tmp_path: Path) -> None:
    with open_cache(tmp_path / "c.sqlite") as cache:
        views = np.full((1, 8), 0.7, np.float32)
        cache.put_scores("m", ["a"], np.array([0.7]), True, np.array([0.05]), views)
        cache.put_scores("m", ["a"], np.array([0.4]), tta=False)
        row = cache.scores("m")["a"]
    assert row.p == pytest.approx(0.4)
    assert row.tta_p == pytest.approx(0.7) and row.spread == pytest.approx(0.05)
    assert row.views is not None


def test_embeddings_are_kept_as_float16(tmp_path: Path) -> None:
    feats = np.random.default_rng(0).normal(size=(3, 16)).astype(np.float32)
    with open_cache(tmp_path / "c.sqlite") as cache:
        cache.put_embeddings("m", ["a", "b", "c"], feats)
        got, found = cache.get_embeddings("m", ["c", "x", "a"])
    assert found.tolist() == [True, False, True]
    np.testing.assert_array_equal(got[0], feats[2].astype(np.float16).astype(np.float32))
    assert np.isnan(got[1]).all()


def test_reopening_scores_only_new_and_changed_files(folder: Path, tmp_path: Path) -> None:
    cache_file = tmp_path / "cache.sqlite"
    first_model = FakeClassifier()
    with open_cache(cache_file) as cache:
        first = score_folder(folder, first_model, batch_size=3, cache=cache)
    assert first.cached == 0 and first_model.calls > 0

    again_model = FakeClassifier()
    with open_cache(cache_file) as cache:
        again = score_folder(folder, again_model, batch_size=3, cache=cache)
    assert again_model.calls == 0  # nothing decoded for the model
    assert again.cached == again.scored == first.scored
    assert again.ids == first.ids
    np.testing.assert_array_equal(again.p, first.p)

    files = sorted(folder.glob("*.tif"))
    shutil.copy(files[0], folder / "new_copy.tif")  # same pixels under a new name
    (tmp_path / "elsewhere").mkdir()
    shutil.copy(files[2], tmp_path / "elsewhere" / "x.tif")
    shutil.copy(files[2], files[1])  # files[1] now holds other pixels
    st = files[1].stat()
    os.utime(files[1], ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    changed = FakeClassifier()
    with open_cache(cache_file) as cache:
        third = score_folder(folder, changed, batch_size=100, cache=cache)
    assert third.cached == len(files) - 1  # all but the changed file
    assert changed.calls == 1  # one batch: the changed file and the new copy
    p = third.as_dict()
    assert p["new_copy"] == pytest.approx(p[files[0].stem])
    assert p[files[1].stem] == pytest.approx(p[files[2].stem])


def test_tta_is_answered_only_by_tta_scores(folder: Path, tmp_path: Path) -> None:
    cache_file = tmp_path / "cache.sqlite"
    with open_cache(cache_file) as cache:
        plain = score_folder(folder, ViewsFakeClassifier(), cache=cache)
    model = ViewsFakeClassifier()
    with open_cache(cache_file) as cache:
        tta = score_folder(folder, model, tta=True, cache=cache)
        assert tta.cached == 0 and model.calls > 0
        reused_model = ViewsFakeClassifier()
        reused = score_folder(folder, reused_model, tta=True, cache=cache)
        single = score_folder(folder, ViewsFakeClassifier(), cache=cache)
    assert reused_model.calls == 0 and reused.cached == reused.scored
    assert tta.views is not None and reused.views is not None and tta.spread is not None
    np.testing.assert_array_equal(reused.views, tta.views)
    np.testing.assert_array_equal(reused.p, tta.p)
    assert reused.spread is not None
    np.testing.assert_allclose(reused.spread, tta.spread, rtol=1e-6)
    assert single.cached == single.scored
    np.testing.assert_array_equal(single.p, plain.p)


def test_embeddings_are_asked_of_the_cache_too(folder: Path, tmp_path: Path) -> None:
    refs = list_patches(folder)
    with open_cache(tmp_path / "c.sqlite") as cache:
        key = "m"
        assert len(lookup_scores(cache, folder, refs, key).hits) == 0
        result = score_folder(folder, FakeClassifier(model_id=key), cache=cache)
        sha1 = cache.known_sha1(folder, refs)
        assert all(sha1)
        model = FakeClassifier(model_id=key)
        assert len(lookup_scores(cache, folder, refs, model_key(model)).hits) == len(refs)
        assert len(lookup_scores(cache, folder, refs, model_key(model), features=True).hits) == 0
        cache.put_embeddings(model_key(model), [s for s in sha1 if s], np.ones((len(refs), 4)))
        hit = lookup_scores(cache, folder, refs, model_key(model), features=True)
    assert len(hit.hits) == len(refs) == result.scored
    assert hit.scores.features is not None and hit.scores.features.shape == (len(refs), 4)


def test_a_damaged_cache_is_moved_aside_with_a_warning(tmp_path: Path, folder: Path) -> None:
    path = tmp_path / CACHE_FILE_NAME
    path.write_bytes(b"this is not a database" * 100)
    with pytest.warns(ScoreCacheWarning, match="damaged"):
        cache = ScoreCache.open(path)
    assert cache is not None
    with cache:
        assert score_folder(folder, FakeClassifier(), cache=cache).scored == 8
    assert len(list(tmp_path.glob(f"{CACHE_FILE_NAME}.damaged-*"))) == 1


def test_a_newer_cache_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / CACHE_FILE_NAME
    with open_cache(path):
        pass
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'version'", (str(CACHE_VERSION + 1),))
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.warns(ScoreCacheWarning, match="newer"):
        assert ScoreCache.open(path) is None
    assert path.read_bytes() == before


def test_a_failed_write_is_a_warning_and_leaves_the_cache_as_it_was(tmp_path: Path) -> None:
    with open_cache(tmp_path / "c.sqlite") as cache:
        cache.put_scores("m", ["a"], np.array([0.3]), tta=False)
        with pytest.warns(ScoreCacheWarning, match="cannot be written"):
            # the second row's sha1 is NULL: the whole write is refused, the first row too
            bad = FileKey(1, 1, None)  # type: ignore[arg-type]
            cache.put_files([("x", FileKey(1, 1, "s")), ("y", bad)])
        assert cache.file_keys() == {}
        assert cache.scores("m")["a"].p == pytest.approx(0.3)


def test_the_cache_lives_beside_the_review_store(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cache_path_for_folder(folder) == folder / ".pathview" / CACHE_FILE_NAME
    read_only = tmp_path / "ro"
    make_folder(read_only, folder, 2, labels=False)
    # As the store's rule finds a folder it cannot write to (root could write anyway).
    monkeypatch.setattr("pathview.store.reviews._folder_is_writable", lambda _f: False)
    expected = fallback_store_path(read_only).parent / CACHE_FILE_NAME
    assert cache_path_for_folder(read_only) == expected


def test_the_bundled_demo_is_cached_in_the_user_data_folder() -> None:
    from pathview.core.resources import demo_folder

    demo = demo_folder()
    path = cache_path_for_folder(demo)
    assert not path.is_relative_to(demo.resolve())
    assert path == fallback_store_path(demo).parent / CACHE_FILE_NAME


def test_app_batches_give_the_cached_rows_first(folder: Path, tmp_path: Path) -> None:
    refs = list_patches(folder)
    cache_file = tmp_path / "c.sqlite"
    first = list(iter_score_batches(folder, refs[:5], FakeClassifier(), cache=cache_file))
    model = FakeClassifier()
    batches = list(iter_score_batches(folder, refs, model, batch_size=2, cache=cache_file))
    assert batches[0].ids == [r.id for r in refs[:5]]  # the hits, unscored, in one batch
    assert [pid for b in batches[1:] for pid in b.ids] == [r.id for r in refs[5:]]
    assert model.calls == 2  # three misses in batches of two
    assert batches[-1].done == batches[-1].total == len(refs)
    p_first = {pid: p for b in first for pid, p in zip(b.ids, b.p, strict=True)}
    assert dict(zip(batches[0].ids, batches[0].p, strict=True)) == p_first


def test_score_cli_reuses_the_cache_and_no_cache_scores_again(
    folder: Path, tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out1, out2, out3 = (tmp_path / f"s{i}.csv" for i in range(3))
    assert run_cli("score", folder, "--out", out1, "--model", tiny_dir) == 0
    assert "from the score cache" not in capsys.readouterr().err
    assert run_cli("score", folder, "--out", out2, "--model", tiny_dir) == 0
    captured = capsys.readouterr()
    assert "8 of 8 patches' scores from the score cache" in captured.err
    assert "(8 from the score cache)" in captured.out
    assert out2.read_text() == out1.read_text()
    assert run_cli("score", folder, "--out", out3, "--model", tiny_dir, "--no-cache") == 0
    assert "score cache" not in capsys.readouterr().err
    assert out3.read_text() == out1.read_text()


def test_score_cli_warns_about_a_damaged_cache_and_goes_on(
    folder: Path, tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = cache_path_for_folder(folder)
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(b"\x00garbage" * 64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing but the message on stderr
        assert run_cli("score", folder, "--out", tmp_path / "s.csv", "--model", tiny_dir) == 0
    assert "pathview score: score cache" in capsys.readouterr().err


def test_queue_uses_the_cached_scores(
    folder: Path, tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli("score", folder, "--out", tmp_path / "s.csv", "--model", tiny_dir) == 0
    capsys.readouterr()
    out = tmp_path / "ids.txt"
    args = ("queue", folder, "--count", 4, "--out", out, "--model", tiny_dir)
    assert run_cli(*args, "--strategy", "uncertainty") == 0
    assert "8 of 8 patches' scores from the score cache" in capsys.readouterr().err
    cached_ids = out.read_text()
    assert run_cli(*args, "--strategy", "uncertainty", "--no-cache") == 0
    assert out.read_text() == cached_ids


def test_quality_rows_are_cached_and_answer_a_details_run(folder: Path, tmp_path: Path) -> None:
    refs = list_patches(folder)
    with open_cache(tmp_path / "c.sqlite") as cache:
        model = FakeClassifier(model_id="m")
        first = score_folder(folder, model, cache=cache, quality=True)
        assert first.cached == 0 and first.quality is not None
        # A details run again: every patch from the cache, quality rows included, in order.
        again = score_folder(folder, FakeClassifier(model_id="m"), cache=cache, quality=True)
        assert again.cached == len(refs) == again.scored
        assert again.quality is not None and again.quality.sha1 == first.quality.sha1
        assert again.ids == first.ids
        for name in ("tissue_fraction", "sharpness", "brightness"):
            np.testing.assert_array_equal(
                again.quality.measures.measure(name), first.quality.measures.measure(name)
            )
        np.testing.assert_array_equal(again.quality.hashes, first.quality.hashes)
        # Scores cached without quality rows (a plain run) are not enough for a details run.
        other = score_folder(folder, FakeClassifier(model_id="n"), cache=cache)
        assert other.cached == 0
        conn = sqlite3.connect(tmp_path / "c.sqlite")
        conn.execute("DELETE FROM quality")
        conn.commit()
        conn.close()
        third = score_folder(folder, FakeClassifier(model_id="m"), cache=cache, quality=True)
        assert third.cached == 0 and third.quality is not None and len(third.quality) == len(refs)


def test_app_batches_from_the_cache_carry_their_quality_rows(folder: Path, tmp_path: Path) -> None:
    refs = list_patches(folder)
    cache_file = tmp_path / "c.sqlite"
    scored = list(
        iter_score_batches(folder, refs, FakeClassifier(), cache=cache_file, quality=True)
    )
    model = FakeClassifier()
    hits = list(iter_score_batches(folder, refs, model, cache=cache_file, quality=True))
    assert model.calls == 0
    assert [pid for b in hits for pid in b.ids] == [pid for b in scored for pid in b.ids]
    for got, want in zip(hits, scored, strict=True):
        assert got.quality is not None and want.quality is not None
        assert got.quality.sha1 == want.quality.sha1
        np.testing.assert_array_equal(got.quality.hashes, want.quality.hashes)


def test_a_version_1_cache_gains_the_quality_table(folder: Path, tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with open_cache(path) as cache:
        score_folder(folder, FakeClassifier(model_id="m"), cache=cache)
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE quality")
    conn.execute("UPDATE meta SET value = '1' WHERE key = 'version'")
    conn.commit()
    conn.close()
    with open_cache(path) as cache:  # the scores stay, the new table is there
        assert score_folder(folder, FakeClassifier(model_id="m"), cache=cache).cached == 8
        assert (
            score_folder(folder, FakeClassifier(model_id="m"), cache=cache, quality=True).cached
            == 0
        )
        assert (
            score_folder(folder, FakeClassifier(model_id="m"), cache=cache, quality=True).cached
            == 8
        )
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()[0] == str(
        CACHE_VERSION
    )
    conn.close()


def _without_row_ids(path: Path, version: str) -> None:
    """Turn the cache at ``path`` into an older one: embeddings in a table without row ids."""
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT model_id, sha1, vec FROM embeddings").fetchall()
    conn.execute("DROP TABLE embeddings")
    conn.execute(
        "CREATE TABLE embeddings (model_id TEXT NOT NULL, sha1 TEXT NOT NULL, vec BLOB NOT NULL,"
        " PRIMARY KEY (model_id, sha1)) WITHOUT ROWID"
    )
    conn.executemany("INSERT INTO embeddings VALUES (?, ?, ?)", rows)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'version'", (version,))
    conn.commit()
    conn.close()


def test_a_version_2_cache_keeps_its_embeddings_in_a_table_with_row_ids(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    feats = np.arange(12, dtype=np.float32).reshape(3, 4)
    with open_cache(path) as cache:
        cache.put_embeddings("m", ["a", "b", "c"], feats)
        cache.put_scores("m", ["a"], np.array([0.25]), tta=False)
    _without_row_ids(path, "2")
    with open_cache(path) as cache:
        got, found = cache.get_embeddings("m", ["c", "a", "b"])
        assert found.all()
        np.testing.assert_array_equal(got, feats[[2, 0, 1]])
        assert cache.scores("m")["a"].p == pytest.approx(0.25)
        cache.put_embeddings("m", ["a", "d"], np.ones((2, 4)))  # replaces by key, as before
        got, found = cache.get_embeddings("m", ["a", "d", "b"])
        np.testing.assert_array_equal(got, [[1] * 4, [1] * 4, feats[1]])
    conn = sqlite3.connect(path)
    (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'embeddings'").fetchone()
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    version = conn.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()[0]
    conn.close()
    assert "WITHOUT ROWID" not in sql.upper()
    assert tables == {"meta", "files", "scores", "embeddings", "quality"}
    assert version == str(CACHE_VERSION)


def test_a_scored_batch_is_kept_whole_or_not_at_all(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """record_batch writes a batch's files, scores, embeddings and quality rows in one
    transaction: when the last write fails, the batch's other rows are not kept either."""
    path = tmp_path / "c.sqlite"

    def failing_put_quality(self: ScoreCache, _quality: object) -> None:
        self._write("INSERT INTO quality (sha1, measures, hashes) VALUES (?, ?, ?)", [(None,) * 3])

    monkeypatch.setattr(ScoreCache, "put_quality", failing_put_quality)
    model = FakeClassifier(model_id="m")
    with open_cache(path) as cache:
        with pytest.warns(ScoreCacheWarning, match="cannot be written"):
            result = score_folder(folder, model, cache=cache, quality=True, batch_size=4)
        assert result.scored == 8  # scoring itself goes on
        assert cache.file_keys() == {} and cache.scores(model_key(model)) == {}
    monkeypatch.undo()
    with open_cache(path) as cache:
        score_folder(folder, model, cache=cache, quality=True)
        assert len(cache.file_keys()) == 8 and len(cache.scores(model_key(model))) == 8


def test_a_locked_cache_drops_the_batch_with_one_warning(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with open_cache(path) as cache:
        cache._conn.execute("PRAGMA busy_timeout = 0")
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                with cache.writing():
                    cache.put_scores("m", ["a"], np.array([0.5]), tta=False)
                    cache.put_embeddings("m", ["a"], np.ones((1, 4)))
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert [str(w.message) for w in caught if w.category is ScoreCacheWarning] == [
            f"score cache {path} cannot be written (database is locked); these scores not kept"
        ]
        assert cache.scores("m") == {}
        with cache.writing(), cache.writing():  # nested: one transaction
            cache.put_scores("m", ["a"], np.array([0.5]), tta=False)
        assert cache.scores("m")["a"].p == pytest.approx(0.5)
