"""Scoring patches with a classifier: the one scoring loop (:mod:`pathview.scoring.loop`),
a whole folder for ``pathview score`` and ``pathview report``, batches for the app and its
scoring child process (:mod:`pathview.scoring.server`), and the scores and details CSVs."""

from pathview.scoring.details import details_columns, write_details_csv
from pathview.scoring.folder import ScoreProgress, ScoreResult, score_folder, write_scores_csv
from pathview.scoring.loop import (
    Predictor,
    ScoreBatch,
    ScoredBatch,
    Scores,
    assess_arrays,
    concat_scores,
    iter_score_batches,
    predict_arrays,
    score_patches,
    score_pixels,
)

__all__ = [
    "Predictor",
    "ScoreBatch",
    "ScoreProgress",
    "ScoreResult",
    "ScoredBatch",
    "Scores",
    "assess_arrays",
    "concat_scores",
    "details_columns",
    "iter_score_batches",
    "predict_arrays",
    "score_folder",
    "score_patches",
    "score_pixels",
    "write_details_csv",
    "write_scores_csv",
]
