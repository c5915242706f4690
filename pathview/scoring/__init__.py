"""Scoring patches with a classifier: the one scoring loop (:mod:`pathview.scoring.loop`),
a whole folder for ``pathview score`` and ``pathview report``, batches for the app and its
scoring child process (:mod:`pathview.scoring.server`), the scores and details CSVs, and the
score cache that spares scoring a folder twice (:mod:`pathview.scoring.cache`)."""

from pathview.scoring.cache import ScoreCache, ScoreCacheWarning, cache_path_for_folder
from pathview.scoring.details import details_columns, write_details_csv
from pathview.scoring.folder import ScoreProgress, ScoreResult, score_folder, write_scores_csv
from pathview.scoring.loop import (
    Predictor,
    ScoreBatch,
    ScoredBatch,
    Scores,
    assess_arrays,
    concat_scores,
    predict_arrays,
    score_patches,
    score_pixels,
)
from pathview.scoring.reuse import CacheLookup, iter_score_batches, lookup_scores, record_batch

__all__ = [
    "CacheLookup",
    "Predictor",
    "ScoreBatch",
    "ScoreCache",
    "ScoreCacheWarning",
    "ScoreProgress",
    "ScoreResult",
    "ScoredBatch",
    "Scores",
    "assess_arrays",
    "cache_path_for_folder",
    "concat_scores",
    "details_columns",
    "iter_score_batches",
    "lookup_scores",
    "predict_arrays",
    "record_batch",
    "score_folder",
    "score_patches",
    "score_pixels",
    "write_details_csv",
    "write_scores_csv",
]
