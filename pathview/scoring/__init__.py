"""Scoring patches with a classifier: a whole folder (``pathview score``), batch by batch for
the app, in a child process (:mod:`pathview.scoring.server`), and the scores CSV."""

from pathview.scoring.batches import Predictor, ScoreBatch, iter_score_batches
from pathview.scoring.folder import ScoreProgress, ScoreResult, score_folder, write_scores_csv

__all__ = [
    "Predictor",
    "ScoreBatch",
    "ScoreProgress",
    "ScoreResult",
    "iter_score_batches",
    "score_folder",
    "write_scores_csv",
]
