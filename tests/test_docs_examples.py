"""The documentation's example scripts run and leave nothing in the checkout."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pathview.store import locate_store

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_retrain_example_writes_to_a_temporary_folder(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, str(REPO / "docs" / "make_retrain_example.py")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    dest = Path(done.stdout.strip())
    assert dest.is_dir() and tmp_path in dest.parents
    assert len(list(dest.glob("*.tif"))) == 240
    assert locate_store(dest).is_file()
    assert "ann reviewed 40 of 240 patches" in done.stderr
    assert not (REPO / "patches").exists()


def test_readme_quick_start_and_links() -> None:
    readme = (REPO / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = quick.split("```sh\n", 1)[1].split("```", 1)[0]
    assert [line.split()[:2] for line in block.strip().splitlines()] == [
        ["make", "run"],
        ["make", "test"],
    ]
    assert 'xvfb-run -a -s "-screen 0 1600x1000x24"' in quick
    assert "PATHVIEW_TORCH=cpu" in quick and ".venv/bin/activate" in quick
    assert "docs/screenshots/first_run.png" in quick
    # Every relative link of the README and docs/ names a file that exists.
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text()):
            if "://" in target:
                continue
            assert (doc.parent / target).exists(), f"{doc.name} links to missing {target}"
