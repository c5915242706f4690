"""Statistics of scores and labels in plain numpy: the bottom layer the app, the CLI and
training share.

AUC, accuracy, ECE and calibration fits (:mod:`~pathview.stats.metrics`), ROC points, the
confusion matrix and reliability bins (:mod:`~pathview.stats.curves`), rater agreement
(:mod:`~pathview.stats.agreement`), paired bootstrap comparisons of two models
(:mod:`~pathview.stats.bootstrap`) and TTA stability (:mod:`~pathview.stats.stability`).
Imports numpy and the standard library only (a layering test checks it).
"""

from pathview.stats.agreement import cohen_kappa, fleiss_kappa
from pathview.stats.bootstrap import PairedDifference, paired_bootstrap
from pathview.stats.curves import (
    RELIABILITY_BINS,
    Confusion,
    ProbabilityBin,
    RocCurve,
    calibration_error_from_bins,
    confusion_at,
    probability_bins,
    roc_curve_points,
)
from pathview.stats.metrics import (
    accuracy,
    binary_nll,
    calibrated_ece_floor,
    expected_calibration_error,
    fit_platt,
    fit_temperature,
    fit_temperature_to,
    roc_auc,
    scores_and_labels,
    sigmoid,
    soft_nll,
    summarise,
)
from pathview.stats.stability import instability, unstable_ids

__all__ = [
    "RELIABILITY_BINS",
    "Confusion",
    "PairedDifference",
    "ProbabilityBin",
    "RocCurve",
    "accuracy",
    "binary_nll",
    "calibrated_ece_floor",
    "calibration_error_from_bins",
    "cohen_kappa",
    "confusion_at",
    "expected_calibration_error",
    "fit_platt",
    "fit_temperature",
    "fit_temperature_to",
    "fleiss_kappa",
    "instability",
    "paired_bootstrap",
    "probability_bins",
    "roc_auc",
    "roc_curve_points",
    "scores_and_labels",
    "sigmoid",
    "soft_nll",
    "summarise",
    "unstable_ids",
]
