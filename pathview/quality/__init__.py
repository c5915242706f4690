"""Quality of patches without a model: flags for blank, dark, over-saturated, inked and
blurred patches (:mod:`pathview.quality.measures`) and exact and near-duplicate groups
(:mod:`pathview.quality.duplicates`). Pure numpy and OpenCV on decoded uint8 pixels; the
scoring loop computes them while it scores when asked (``quality=True``)."""

from pathview.quality.duplicates import (
    NEAR_DISTANCE,
    exact_groups,
    hamming,
    near_groups,
    near_pairs,
    perceptual_hashes,
    perceptual_hashes_of,
)
from pathview.quality.measures import (
    FLAGS,
    MEASURES,
    THRESHOLDS,
    QualityMeasures,
    Threshold,
    measure_arrays,
    measure_batch,
)
from pathview.quality.records import PatchQuality

__all__ = [
    "FLAGS",
    "MEASURES",
    "NEAR_DISTANCE",
    "THRESHOLDS",
    "PatchQuality",
    "QualityMeasures",
    "Threshold",
    "exact_groups",
    "hamming",
    "measure_arrays",
    "measure_batch",
    "near_groups",
    "near_pairs",
    "perceptual_hashes",
    "perceptual_hashes_of",
]
