"""Running the headless commands in this process."""

from __future__ import annotations


def run_cli(*argv: object) -> int:
    """``pathview ARGV...`` in this process (arguments as text); returns the exit status."""
    from pathview.cli import main

    return main([str(a) for a in argv])
