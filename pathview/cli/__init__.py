"""The ``pathview`` command: opens the app, or runs a headless sub-command.

``pathview [FOLDER] [--demo] [--model DIR] [--device ...]`` opens the app;
``pathview score|export|import ...`` run without a window (see ``pathview COMMAND --help``).
A folder that happens to be named like a sub-command can be opened as ``./score``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from pathview.core.resources import demo_folder

#: Sub-command name -> module under pathview.cli with add_parser(subparsers) and run(args).
SUBCOMMANDS = {
    "score": "score",
    "export": "export",
    "import": "import_reviews",
    "report": "report",
}

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
PRECISION_CHOICES = ("auto", "float32", "int8")


def _app_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pathview",
        description="Review histopathology patches with a CNN at your side.",
        epilog="Headless commands: " + ", ".join(SUBCOMMANDS) + " (pathview COMMAND --help).",
    )
    parser.add_argument("folder", nargs="?", type=Path, help="patch folder to open")
    parser.add_argument("--demo", action="store_true", help="open the bundled demo patches")
    parser.add_argument("--model", type=Path, default=None, help="model directory to use")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    parser.add_argument("--version", action="version", version=_version())
    return parser


def _version() -> str:
    from pathview import __version__

    return f"pathview {__version__}"


def _command_parser(command: str) -> argparse.ArgumentParser:
    # Only the requested command's module is imported: `export` need not load torch.
    parser = argparse.ArgumentParser(prog="pathview")
    subparsers = parser.add_subparsers(dest="command", required=True)
    importlib.import_module(f"pathview.cli.{SUBCOMMANDS[command]}").add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pathview`` console script; returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] in SUBCOMMANDS:
        args = _command_parser(args_list[0]).parse_args(args_list)
        module = importlib.import_module(f"pathview.cli.{SUBCOMMANDS[args.command]}")
        return int(module.run(args))
    args = _app_parser().parse_args(args_list)
    if args.demo and args.folder is not None:
        print("pathview: give either FOLDER or --demo, not both", file=sys.stderr)
        return 2
    folder = demo_folder() if args.demo else args.folder
    if folder is not None and not folder.is_dir():
        print(f"pathview: not a folder: {folder}", file=sys.stderr)
        return 2
    from pathview.app import run_app

    return int(run_app(folder, args.model, args.device))


if __name__ == "__main__":
    sys.exit(main())
