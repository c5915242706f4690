"""The ``pathview`` command: opens the app, or runs a headless sub-command.

``pathview [FOLDER] [--demo] [--model DIR] [--device ...]`` opens the app (``pathview
SLIDE.svs`` its slide window);
``pathview score|report|queue|export|import|export-patches ...`` run without a window (see
``pathview COMMAND --help``).
A folder that happens to be named like a sub-command can be opened as ``./score``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from pathview.core.resources import demo_folder
from pathview.slide.reader import is_slide_path

#: Sub-command name -> module under pathview.cli with add_parser(subparsers) and run(args).
SUBCOMMANDS = {
    "score": "score",
    "export": "export",
    "import": "import_reviews",
    "report": "report",
    "queue": "queue",
    "export-patches": "export_patches",
}

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
PRECISION_CHOICES = ("auto", "float32", "int8")
DEVICE_HELP = (
    "where the model runs: auto = CUDA, then Apple MPS, then the CPU; a device that is not "
    "available falls back to the CPU with a note"
)


def _app_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pathview",
        description="Review histopathology patches with a CNN at your side.",
        epilog=(
            "Headless commands: "
            + ", ".join(SUBCOMMANDS)
            + " (pathview COMMAND --help). Retrain the model on your reviews with pathview-train"
            " (pathview-train --help), then open the new model with --model DIR."
        ),
    )
    parser.add_argument(
        "folder", nargs="?", type=Path, help="patch folder to open, or a slide (SLIDE.svs, ...)"
    )
    parser.add_argument("--demo", action="store_true", help="open the bundled demo patches")
    parser.add_argument("--model", type=Path, default=None, help="model directory to use")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help=DEVICE_HELP)
    parser.add_argument(
        "--quit-after-ms",
        type=int,
        default=None,
        metavar="MS",
        help="quit MS milliseconds after the window opens (a smoke test of the installation)",
    )
    parser.add_argument("--version", action="version", version=_version())
    return parser


#: What to run instead when there is no screen (xvfb-run comes with the xvfb package).
XVFB_HINT = 'xvfb-run -a -s "-screen 0 1600x1000x24" pathview --demo'


def no_display_message(environ: Mapping[str, str], platform: str = sys.platform) -> str | None:
    """Why the window cannot open here, or None when it can (or Qt is told where to draw).

    On Linux Qt needs an X11 or Wayland display; without one it aborts with a message about
    missing xcb libraries, which sends people the wrong way.
    """
    if not platform.startswith("linux"):
        return None
    if any(environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")):
        return None
    return (
        "pathview: no display (neither DISPLAY nor WAYLAND_DISPLAY is set), so the window "
        "cannot open. On a machine without a screen, run it on a virtual one:\n"
        f"  {XVFB_HINT}\n"
        "or use the headless commands (pathview score|report|queue|export|import)."
    )


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
    slide = folder is not None and not folder.is_dir() and is_slide_path(folder)
    if folder is not None and not folder.is_dir() and not slide:
        print(f"pathview: not a folder: {folder}", file=sys.stderr)
        return 2
    if args.quit_after_ms is not None and args.quit_after_ms < 0:
        print("pathview: --quit-after-ms must be 0 or more", file=sys.stderr)
        return 2
    problem = no_display_message(os.environ)
    if problem is not None:
        print(problem, file=sys.stderr)
        return 2
    if slide:
        from pathview.app import run_slide_app

        assert folder is not None
        return int(run_slide_app(folder, args.model, args.device, args.quit_after_ms))
    from pathview.app import run_app

    return int(run_app(folder, args.model, args.device, quit_after_ms=args.quit_after_ms))


if __name__ == "__main__":
    sys.exit(main())
