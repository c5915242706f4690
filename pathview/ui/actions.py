"""Every user action in one table: name, text, shortcuts, menu, and the window slot it calls
(a window method, or one of a window part's: ``files.`` the file dialogs, ``grid.`` the grid).

Slots on the window are a few lines that call one session method; menus, shortcuts and
tooltips are built from this table only (see ``MainWindow._build_actions``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ActionSpec:
    name: str  # object name and key in MainWindow.action_map
    text: str
    menu: str
    slot: (
        str  # MainWindow method, or a window widget's ("grid.tile_below"); checkable get the state
    )
    shortcuts: tuple[str, ...] = ()
    checkable: bool = False
    checked: bool = False
    tip: str = ""
    separator_before: bool = False
    anywhere: bool = False  # its keys work wherever focus is, except while typing (ui/keyboard)


ACTIONS: tuple[ActionSpec, ...] = (
    # File
    ActionSpec("open_folder", "&Open folder…", "&File", "files.open_folder_dialog", ("Ctrl+O",)),
    ActionSpec("open_demo", "Open &demo patches", "&File", "open_demo"),
    ActionSpec("open_slide", "Open &slide…", "&File", "open_slide_dialog"),
    ActionSpec(
        "load_labels", "Load &labels CSV…", "&File", "files.load_labels_dialog", ("Ctrl+L",)
    ),
    ActionSpec(
        "import_reviews",
        "&Import reviews…",
        "&File",
        "files.import_reviews_dialog",
        ("Ctrl+I",),
        tip="Merge a colleague's review store (.sqlite) or review log (.csv) into this folder's",
    ),
    ActionSpec("quit", "&Quit", "&File", "close", ("Ctrl+Q",), separator_before=True),
    # Review
    ActionSpec("agree", "&Agree with the model", "&Review", "agree", ("A",), anywhere=True),
    ActionSpec(
        "disagree", "&Disagree with the model", "&Review", "disagree", ("D",), anywhere=True
    ),
    ActionSpec("unsure", "&Unsure", "&Review", "unsure", ("U",), anywhere=True),
    ActionSpec(
        "label_tumour",
        "Label &tumour",
        "&Review",
        "label_tumour",
        ("T",),
        tip="Record the label tumour directly (works without a model and in blind mode)",
        anywhere=True,
    ),
    ActionSpec(
        "label_normal",
        "Label &normal",
        "&Review",
        "label_normal",
        ("N",),
        tip="Record the label normal directly (works without a model and in blind mode)",
        anywhere=True,
    ),
    ActionSpec("undo", "Und&o last verdict", "&Review", "undo", ("Ctrl+Z",), anywhere=True),
    ActionSpec(
        "gt_flag",
        "Ground truth looks &wrong",
        "&Review",
        "toggle_truth_flag",
        ("G",),
        tip="Flag (again: unflag) the ground truth of this patch as wrong; exported with the log",
        separator_before=True,
        anywhere=True,
    ),
    ActionSpec(
        "note",
        "Note on t&his patch…",
        "&Review",
        "edit_note",
        ("Ctrl+N",),
        tip="A note stored with your review of this patch",
        anywhere=True,
    ),
    ActionSpec(
        "next",
        "Next pat&ch",
        "&Review",
        "next_patch",
        ("Right", "J"),
        separator_before=True,
        anywhere=True,
    ),
    ActionSpec(
        "previous", "&Previous patch", "&Review", "previous_patch", ("Left", "K"), anywhere=True
    ),
    ActionSpec(
        "next_unreviewed",
        "Ne&xt unreviewed patch",
        "&Review",
        "next_unreviewed",
        ("Shift+N",),
        anywhere=True,
    ),
    ActionSpec(
        "next_suggested",
        "Next &suggested patch (review queue)",
        "&Review",
        "next_suggested",
        ("Q",),
        anywhere=True,
        tip="The next unreviewed patch in the order `pathview queue --strategy auto` writes "
        "for these scores (the grid's 'suggested' sort)",
    ),
    ActionSpec("row_down", "Patch &below", "&Review", "grid.tile_below", ("Down",), anywhere=True),
    ActionSpec("row_up", "Patch abo&ve", "&Review", "grid.tile_above", ("Up",), anywhere=True),
    ActionSpec("page_down", "Pa&ge down", "&Review", "grid.page_below", ("PgDown",), anywhere=True),
    ActionSpec("page_up", "Pag&e up", "&Review", "grid.page_above", ("PgUp",), anywhere=True),
    ActionSpec(
        "first_patch", "&First patch", "&Review", "grid.first_tile", ("Home",), anywhere=True
    ),
    ActionSpec("last_patch", "&Last patch", "&Review", "grid.last_tile", ("End",), anywhere=True),
    ActionSpec(
        "bulk_tumour",
        "Label all &tumour…",
        "&Selection",
        "bulk.tumour",
        ("Ctrl+Shift+T",),
        tip="Label every patch the map's box or lasso picked tumour (after a confirmation; "
        "patches you reviewed already are left as they are; Ctrl+Z undoes it as one step)",
    ),
    ActionSpec(
        "bulk_normal",
        "Label all &normal…",
        "&Selection",
        "bulk.normal",
        ("Ctrl+Shift+N",),
        tip="Label every patch the map's box or lasso picked normal (after a confirmation)",
    ),
    ActionSpec(
        "bulk_unsure",
        "All &unsure…",
        "&Selection",
        "bulk.unsure",
        ("Ctrl+Shift+U",),
        tip="Mark every patch the map's box or lasso picked unsure (after a confirmation)",
    ),
    ActionSpec(
        "bulk_agree",
        "&Agree with the model on all…",
        "&Selection",
        "bulk.agree",
        tip="Agree with the model's call on every scored patch the map picked (confirmed first)",
    ),
    ActionSpec(
        "bulk_disagree",
        "&Disagree with the model on all…",
        "&Selection",
        "bulk.disagree",
        tip="Disagree with the model's call on every scored patch the map picked (confirmed first)",
    ),
    ActionSpec(
        "clear_selection",
        "&Clear the selection",
        "&Selection",
        "session.map.clear_pick",
        tip="Show every patch in the grid again",
        separator_before=True,
    ),
    ActionSpec(
        "auto_advance",
        "Auto-advance to the next unrev&iewed",
        "&Review",
        "set_auto_advance",
        ("Ctrl+Shift+A",),
        checkable=True,
        tip="After a verdict, jump to the next unreviewed patch in the current order",
        separator_before=True,
    ),
    ActionSpec("set_reviewer", "Change &reviewer…", "&Review", "change_reviewer"),
    # View
    ActionSpec("toggle_box", "Centre 32×32 &box", "&View", "set_box_visible", ("B",), True, True),
    ActionSpec("toggle_heatmap", "&Heat map", "&View", "set_heatmap_visible", ("H",), True, True),
    ActionSpec(
        "toggle_contours",
        "Heat map as &outlines (contours)",
        "&View",
        "set_heat_contours",
        ("O",),
        True,
        False,
        tip="Draw the heat map as lines at a quarter, half and three quarters of its peak "
        "instead of a colour blend, so the tissue under it stays visible",
    ),
    ActionSpec(
        "toggle_tile_box",
        "Centre box on t&iles",
        "&View",
        "set_tile_box_visible",
        ("Shift+B",),
        True,
        True,
        tip="Draw the centre 32×32 box (the region the label is about) on every tile",
    ),
    ActionSpec("larger_tiles", "&Larger tiles", "&View", "larger_tiles", ("Ctrl+=", "Ctrl++")),
    ActionSpec("smaller_tiles", "&Smaller tiles", "&View", "smaller_tiles", ("Ctrl+-",)),
    ActionSpec(
        "toggle_metrics",
        "&Metrics panel",
        "&View",
        "set_metrics_visible",
        ("M",),
        True,
        False,
        tip="ROC, confusion matrix, calibration, reviewer agreement and adjudication",
        separator_before=True,
    ),
    ActionSpec(
        "toggle_map",
        "Embedding m&ap",
        "&View",
        "insight_parts.set_map_visible",
        ("Ctrl+Shift+M",),
        True,
        False,
        tip="The folder as a 2-D map of the model's features: hover, click, box or lasso",
    ),
    ActionSpec(
        "folder_summary",
        "Folder s&ummary…",
        "&View",
        "insight_parts.show_summary",
        tip="Counts, class balance, quality flags, duplicates, clusters and the map",
    ),
    ActionSpec(
        "blind_p",
        "Blind: hide &P(tumour)",
        "&View",
        "set_blind_p",
        ("Ctrl+Shift+P",),
        checkable=True,
        tip="Hide the model's P and call while reviewing (label with T / N / U)",
        separator_before=True,
    ),
    ActionSpec(
        "blind_truth",
        "Blind: hide &ground truth",
        "&View",
        "set_blind_truth",
        ("Ctrl+Shift+G",),
        checkable=True,
        tip="Hide the ground truth while reviewing",
    ),
    ActionSpec(
        "apply_order",
        "Re-apply sort and &filter",
        "&View",
        "apply_order",
        ("F5",),
        separator_before=True,
    ),
    # Model
    ActionSpec("score", "&Score folder", "&Model", "score", ("Ctrl+R",)),
    ActionSpec(
        "score_tta", "Score with &TTA (8 flips/rotations)", "&Model", "score_tta", ("Ctrl+T",)
    ),
    ActionSpec("cancel", "&Cancel background work", "&Model", "cancel_work", ("Escape",)),
    ActionSpec("load_model", "Load model &folder…", "&Model", "files.load_model_dialog"),
    # Export
    ActionSpec(
        "export_labels", "Reviewed &labels CSV (id,label)…", "&Export", "export_labels", ("Ctrl+E",)
    ),
    ActionSpec("export_log", "Full review l&og CSV…", "&Export", "export_log"),
    ActionSpec(
        "export_submission", "Kaggle &submission of the scores…", "&Export", "export_submission"
    ),
)

#: The Selection menu acts on the patches the embedding map's box or lasso picked.
MENUS: tuple[str, ...] = ("&File", "&Review", "&Selection", "&View", "&Model", "&Export")


def spec_named(name: str) -> ActionSpec:
    """The folder window's action ``name`` (another window reuses its text, keys and tip)."""
    for spec in ACTIONS:
        if spec.name == name:
            return spec
    raise KeyError(name)
