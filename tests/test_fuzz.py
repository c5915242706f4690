"""Property-based tests (hypothesis): the decoders, the labels reader and the review-log importer
meet arbitrary bytes with nothing but their documented results and error types, and a failed
import leaves the store byte-identical.

Derandomized (the same examples on every run, so CI is stable) and sized to run in seconds.
"""

from __future__ import annotations

import contextlib
import hashlib
import string
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pathview.core import Verdict
from pathview.io import DecodeErrorKind, LabelsError, read_labels, read_patch
from pathview.store import (
    ReviewInput,
    ReviewStore,
    StoreError,
    import_reviews,
    write_log_csv,
)
from pathview.store.export import LOG_COLUMNS

#: Hundreds of generated examples per test: seconds of CPU in all, so outside the quick run.
pytestmark = pytest.mark.slow

FUZZ = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

DATA = Path(__file__).parent / "data"
SEEDS = {
    ".tif": (DATA / "formats" / "normal_odd_100x80.tif").read_bytes(),
    ".png": (DATA / "formats" / "normal_rgba.png").read_bytes(),
    ".jpg": (DATA / "formats" / "normal.jpg").read_bytes(),
    ".webp": (DATA / "formats" / "normal.webp").read_bytes(),
}


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("fuzz")


def _check_decoded(path: Path) -> None:
    decoded = read_patch(path)  # must not raise
    if decoded.pixels is None:
        assert decoded.error is not None
        assert isinstance(decoded.error.kind, DecodeErrorKind)
        str(decoded.error).encode("utf-8")  # printable, writable
    else:
        assert decoded.error is None
        assert decoded.pixels.dtype == np.uint8
        assert decoded.pixels.ndim == 3 and decoded.pixels.shape[2] == 3


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """A real file with some bytes overwritten, and maybe truncated."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 8))):
        pos = draw(st.integers(0, len(data) - 1))
        data[pos] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


@pytest.mark.parametrize("suffix", sorted(SEEDS))
@FUZZ
@given(data=st.binary(max_size=2048))
def test_decoders_never_raise_on_arbitrary_bytes(work: Path, suffix: str, data: bytes) -> None:
    path = work / f"any{suffix}"
    path.write_bytes(data)
    _check_decoded(path)


@pytest.mark.parametrize("suffix", sorted(SEEDS))
@FUZZ
@given(st.data())
def test_decoders_never_raise_on_damaged_real_files(
    work: Path, suffix: str, data: st.DataObject
) -> None:
    path = work / f"damaged{suffix}"
    path.write_bytes(data.draw(mutated(SEEDS[suffix])))
    _check_decoded(path)


# -- the labels reader ---------------------------------------------------------------------
LABELS_ALPHABET = "01,\"'\n\r\t id label.tif x\x00\xe9"


@FUZZ
@given(
    data=st.one_of(
        st.binary(max_size=1024),
        st.text(LABELS_ALPHABET, max_size=300),
        st.integers(131_000, 132_000).map(lambda n: f'id,label\na,1\n"{"x" * n}",1\nb,0\n'),
    )
)
def test_labels_reader_returns_a_table_or_labels_error(work: Path, data: bytes | str) -> None:
    path = work / "labels.csv"
    path.write_bytes(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
    try:
        table = read_labels(path)
    except LabelsError:
        return
    assert all(v in (0, 1) for v in table.labels.values())
    assert all(p.line >= 1 and p.reason for p in table.problems)


# -- the review-log importer ---------------------------------------------------------------
def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def filled_store(work: Path) -> Path:
    path = work / "mine.sqlite"
    with ReviewStore(path) as store:
        store.record(ReviewInput("p1", Verdict.AGREE, "ann", relpath="p1.tif", p_tumour=0.9))
        store.record(ReviewInput("p2", Verdict.UNSURE, "ann", p_tumour=0.4))
        store.undo()
    return path


def _import_and_check(store_path: Path, log: Path) -> None:
    before = _digest(store_path)
    with ReviewStore(store_path) as store:
        n_before = len(store.events())
        try:
            import_reviews(store, log)
        except StoreError:
            failed = True
        else:
            failed = False
        if failed:
            assert len(store.events()) == n_before
    if failed:
        assert _digest(store_path) == before  # byte-identical


@FUZZ
@given(data=st.binary(max_size=2048))
def test_importing_arbitrary_bytes_fails_cleanly(
    work: Path, filled_store: Path, data: bytes
) -> None:
    log = work / "any.csv"
    log.write_bytes(data)
    _import_and_check(filled_store, log)


CELL = st.one_of(
    st.sampled_from(
        [
            "",
            "review",
            "retract",
            "agree",
            "disagree",
            "unsure",
            "0",
            "1",
            "0.9",
            "nan",
            "2025-01-01T00:00:00.000Z",
            "next tuesday",
            "../x.tif",
            "/etc/x",
            "adjudicator",
            "=1+2",
            "'x",
            "u1",
            "u2",
        ]
    ),
    st.text(string.printable + "\x00\xe9\u2028", max_size=12),
)


@FUZZ
@given(
    rows=st.lists(st.lists(CELL, min_size=len(LOG_COLUMNS), max_size=len(LOG_COLUMNS)), max_size=6)
)
def test_importing_log_shaped_rows_fails_cleanly_or_imports_all(
    work: Path, filled_store: Path, rows: list[list[str]]
) -> None:
    import csv

    log = work / "rows.csv"
    with log.open("w", newline="", encoding="utf-8", errors="surrogatepass") as handle:
        writer = csv.writer(handle)
        writer.writerow(LOG_COLUMNS)
        writer.writerows(rows)
    _import_and_check(filled_store, log)


REVIEW_TEXT = st.text(max_size=20)


@settings(FUZZ, max_examples=40)  # two stores per example, each commit fsynced
@given(
    reviews=st.lists(
        st.tuples(REVIEW_TEXT, REVIEW_TEXT, REVIEW_TEXT, st.sampled_from(list(Verdict))),
        min_size=1,
        max_size=4,
    )
)
def test_whatever_a_store_records_its_log_imports_back_unchanged(
    tmp_path_factory: pytest.TempPathFactory,
    reviews: list[tuple[str, str, str, Verdict]],
) -> None:
    folder = tmp_path_factory.mktemp("roundtrip")
    with ReviewStore(folder / "a.sqlite") as store:
        for patch_id, reviewer, note, verdict in reviews:
            with contextlib.suppress(ValueError):  # refused at the door: nothing stored
                store.record(
                    ReviewInput(
                        patch_id, verdict, reviewer, note=note, relpath=patch_id, p_tumour=0.7
                    )
                )
        write_log_csv(store, folder / "log.csv")
        recorded = store.events()
    with ReviewStore(folder / "b.sqlite") as other:
        import_reviews(other, folder / "log.csv")
        back = other.events()
    keep = [c for c in LOG_COLUMNS if c not in ("event_id", "origin")]
    assert [[getattr(e, c) for c in keep] for e in back] == [
        [getattr(e, c) for c in keep] for e in recorded
    ]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=6), max_size=60))
def test_name_ranks_follow_pythons_stable_sort(ids: list[str]) -> None:
    """name_rank_of (numpy's sort, in chunks) ranks ids as Python's stable sort does:
    code points, prefixes first, equal ids in their order."""
    from pathview.core import arrays
    from pathview.triage import name_rank_of

    ids = [i.replace("\x00", "") for i in ids]  # file names hold no NUL
    order = sorted(range(len(ids)), key=ids.__getitem__)
    want = np.empty(len(ids), np.int64)
    want[order] = np.arange(len(ids))
    np.testing.assert_array_equal(name_rank_of(ids), want)
    chunk = arrays.STR_CHUNK
    try:
        arrays.STR_CHUNK = 7  # several chunks of different widths
        np.testing.assert_array_equal(name_rank_of(ids), want)
        np.testing.assert_array_equal(arrays.str_array(ids), np.array(ids, dtype=str))
    finally:
        arrays.STR_CHUNK = chunk


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c", "d", "e", "ab", ""]), max_size=40))
def test_exact_groups_are_numbered_in_the_order_they_first_appear(keys: list[str]) -> None:
    """0 for a key seen once; keys seen more than once numbered 1, 2, ... by their first row."""
    from pathview.quality import exact_groups

    counts = {k: keys.count(k) for k in keys}
    numbers: dict[str, int] = {}
    for k in keys:
        if counts[k] > 1 and k not in numbers:
            numbers[k] = len(numbers) + 1
    assert exact_groups(keys).tolist() == [numbers.get(k, 0) for k in keys]
