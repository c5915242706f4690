"""Names a reviewer can read for explanation layers ("Block 2 of 3, 12×12") instead of module
paths ("stages.1"); the module path stays available as a tooltip (no Qt).

The rules follow the module names of :class:`pathview.model.network.PatchNet` (``stem``,
``stages.<i>``, ``stages.<i>.<j>`` and ``stages.<i>.<j>.conv2``); a name of another network is
shown as it is, with its map size.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

_STAGE = re.compile(r"^stages\.(\d+)$")
_BLOCK = re.compile(r"^stages\.(\d+)\.(\d+)$")
_CONV = re.compile(r"^stages\.(\d+)\.(\d+)\.conv(\d+)$")


def _shape(names: Iterable[str]) -> tuple[int, dict[int, int]]:
    """(number of stages, blocks per stage) seen among ``names``."""
    stages: set[int] = set()
    blocks: dict[int, int] = {}
    for name in names:
        for pattern in (_STAGE, _BLOCK, _CONV):
            match = pattern.match(name)
            if match:
                i = int(match.group(1))
                stages.add(i)
                if pattern is not _STAGE:
                    blocks[i] = max(blocks.get(i, 0), int(match.group(2)) + 1)
    return (max(stages) + 1 if stages else 0), blocks


def layer_label(name: str, side: int | None, module_names: Iterable[str] = ()) -> str:
    """The reader's name of layer ``name`` whose map is ``side`` x ``side`` cells on a 96 px
    patch (None: unknown). ``module_names``: every module name of the network (for "last");
    without them only ``name`` itself is looked at."""
    n_stages, blocks = _shape([name, *module_names])
    cells = f", {side}×{side}" if side else ""
    if name == "stem":
        return f"Early layers{cells}"
    match = _STAGE.match(name)
    if match:
        i = int(match.group(1))
        if i == n_stages - 1 and n_stages > 1:
            return f"Last block{cells}"
        return f"Block {i + 1} of {n_stages}{cells}"
    match = _BLOCK.match(name) or _CONV.match(name)
    if match:
        i, j = int(match.group(1)), int(match.group(2))
        last = i == n_stages - 1 and j == blocks.get(i, 1) - 1
        if _CONV.match(name):
            return f"{'Last convolution' if last else f'Block {i + 1}, convolution {j + 1}'}{cells}"
        return f"Block {i + 1}, unit {j + 1} of {blocks.get(i, j + 1)}{cells}"
    return f"{name}{cells}"


def layer_labels(choices: Mapping[str, int], module_names: Iterable[str] = ()) -> dict[str, str]:
    """:func:`layer_label` of every ``{name: side}`` in ``choices`` (same order); names that
    would read the same get their module name appended so the menu can tell them apart."""
    names = list(module_names) or list(choices)
    labels = {name: layer_label(name, side, names) for name, side in choices.items()}
    seen: dict[str, int] = {}
    for label in labels.values():
        seen[label] = seen.get(label, 0) + 1
    return {
        name: label if seen[label] == 1 else f"{label} ({name})" for name, label in labels.items()
    }


def explanation_label(method_name: str, layer_name: str) -> str:
    """One line for the panel: "Grad-CAM, block 2 of 3, 12×12"."""
    return f"{method_name}, {layer_name[:1].lower()}{layer_name[1:]}"
