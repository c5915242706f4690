"""``pathview queue``: the next unreviewed patch ids, one per line, most useful first."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.cli import run_cli
from support.models import make_tiny_model

from pathview.core import Verdict
from pathview.model import load_model
from pathview.scoring import score_folder
from pathview.store import ReviewInput, open_store_for_folder
from pathview.triage import STRATEGIES, next_to_review


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("model") / "tiny")


@pytest.fixture
def folder(tmp_path: Path, data_dir: Path) -> Path:
    """16 real Kaggle patches with their labels."""
    from support.patches import make_folder

    out = tmp_path / "patches"
    make_folder(out, data_dir / "kaggle", 16)
    return out


def review(folder: Path, ids: list[str]) -> None:
    store = open_store_for_folder(folder)
    try:
        for pid in ids:
            store.record(ReviewInput(pid, Verdict.AGREE, "ann", p_tumour=0.5))
    finally:
        store.close()


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_writes_the_pure_queue_of_every_strategy_skipping_reviewed_patches(
    folder: Path, tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clf = load_model(tiny_dir, device="cpu", precision="float32")
    scored = score_folder(folder, clf, tta=True, features=True)
    done = scored.ids[:3]
    review(folder, done)
    for strategy in STRATEGIES:
        out = tmp_path / f"{strategy}.txt"
        code = run_cli(
            "queue", folder, "--count", 5, "--out", out, "--strategy", strategy,
            "--model", tiny_dir, "--device", "cpu", "--precision", "float32", "--tta",
            "--seed", 4,
        )  # fmt: skip
        assert code == 0, capsys.readouterr().err
        expected = next_to_review(
            scored.ids, scored.p, 5, strategy, reviewed=set(done), views=scored.views,
            embeddings=scored.features, seed=4,
        )  # fmt: skip
        assert lines(out) == expected and len(expected) == 5, strategy
        assert not set(lines(out)) & set(done)
        assert f"queued 5 of 13 unreviewed patches (3 reviewed) by {strategy}" in (
            capsys.readouterr().out
        )


def test_stdout_and_the_tta_strategy_scores_with_tta(
    folder: Path, tiny_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("--model", tiny_dir, "--device", "cpu", "--precision", "float32")
    code = run_cli("queue", folder, "--count", 4, "--out", "-", "--strategy", "tta", *args)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    ids = captured.out.splitlines()  # the ids alone on stdout; the summary on stderr
    clf = load_model(tiny_dir, device="cpu", precision="float32")
    scored = score_folder(folder, clf, tta=True)
    assert ids == next_to_review(scored.ids, scored.p, 4, "tta", views=scored.views)
    assert "by tta with 8-way TTA" in captured.err


def test_an_empty_queue_writes_an_empty_file_and_says_so(
    folder: Path, tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    review(folder, sorted(p.stem for p in folder.glob("*.tif")))
    out = tmp_path / "ids.txt"
    code = run_cli("queue", folder, "--count", 3, "--out", out, "--model", tiny_dir)
    assert code == 0
    assert out.read_text() == ""
    assert "nothing left to review" in capsys.readouterr().err


def test_the_store_is_only_read(
    folder: Path, tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ids.txt"
    assert run_cli("queue", folder, "--count", 100, "--out", out, "--model", tiny_dir) == 0
    # No review store is created for a folder without one (the score cache is kept there).
    assert not (folder / ".pathview" / "reviews.sqlite").exists()
    assert not list(folder.glob(".pathview/reviews*"))
    assert sorted(lines(out)) == sorted(p.stem for p in folder.glob("*.tif"))  # all 16, once


def test_unreadable_files_are_listed_and_not_queued(
    kaggle_folder: Path, tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ids.txt"
    code = run_cli("queue", kaggle_folder, "--count", 50, "--out", out, "--model", tiny_dir)
    assert code == 3  # written, but some files could not be read
    err = capsys.readouterr().err
    assert "unreadable: zz_corrupt_0.tif" in err and "1 files unreadable" in err
    assert len(lines(out)) == 12 and "zz_corrupt_0" not in lines(out)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("empty folder", "no patch files in"),
        ("count 0", "--count must be at least 1, got 0"),
        ("unknown strategy", "unknown strategy 'smart'; choose one of auto, uncertainty"),
        ("not a folder", "not a folder"),
    ],
)
def test_bad_inputs_fail_with_a_message_and_write_nothing(
    case: str,
    message: str,
    folder: Path,
    tiny_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "ids.txt"
    target, extra = folder, ["--count", "3"]
    if case == "empty folder":
        target = tmp_path / "empty"
        target.mkdir()
    elif case == "count 0":
        extra = ["--count", "0"]
    elif case == "unknown strategy":
        extra += ["--strategy", "smart"]
    else:
        target = tmp_path / "missing"
    code = run_cli("queue", target, "--out", out, "--model", tiny_dir, *extra)
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("pathview queue: ") and message in err
    assert not out.exists()


def test_help_lists_the_strategies(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        run_cli("queue", "--help")
    assert stop.value.code == 0
    text = capsys.readouterr().out
    for strategy in STRATEGIES:
        assert strategy in text
    assert "--count N" in text and "one patch id per line" in text
