"""Output files get the permissions the user's umask gives, as a plain open() would."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from pathview.core.files import atomic_text_writer, current_umask
from pathview.scoring import write_scores_csv


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o022, 0o027], ids=["umask022", "umask027"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def test_current_umask_reads_the_mask_without_changing_it(umask: int) -> None:
    assert current_umask() == umask
    assert current_umask() == umask


def test_new_file_gets_0666_less_umask(umask: int, tmp_path: Path) -> None:
    plain = tmp_path / "plain.csv"
    plain.write_text("x\n")  # what the system itself gives a new file
    out = tmp_path / "new.csv"
    with atomic_text_writer(out) as handle:
        handle.write("x\n")
    assert mode(out) == 0o666 & ~umask == mode(plain)
    assert mode(out) == {0o022: 0o644, 0o027: 0o640}[umask]


def test_overwriting_keeps_the_existing_files_mode(umask: int, tmp_path: Path) -> None:
    out = tmp_path / "shared.csv"
    out.write_text("old\n")
    out.chmod(0o644)
    with atomic_text_writer(out) as handle:
        handle.write("new\n")
    assert out.read_text() == "new\n"
    assert mode(out) == 0o644
    out.chmod(0o600)
    with atomic_text_writer(out) as handle:
        handle.write("private\n")
    assert mode(out) == 0o600


def test_a_real_output_obeys_the_umask(umask: int, tmp_path: Path) -> None:
    out = tmp_path / "scores.csv"
    write_scores_csv(out, ["a"], np.array([0.5]))
    assert mode(out) == 0o666 & ~umask
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
