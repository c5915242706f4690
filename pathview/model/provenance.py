"""What a set of scores was measured with: model id, number format, device and input codec.

Every report or file that gives metrics names these four, because they change the numbers:
int8 and float32 give different AUC and ECE on the same patches, and so does the input codec.
"""

from __future__ import annotations

from pathview.model.classifier import Classifier
from pathview.model.codec import InputCodec
from pathview.model.metadata import ModelMetadata


def codec_text(codec: InputCodec | None) -> str:
    """The input codec as people read it: 'JPEG q75 (4:2:0)', or 'none'."""
    return codec.describe() if codec is not None else "none"


def metadata_codec_text(metadata: ModelMetadata) -> str:
    """The input codec a model's metadata records, as :func:`codec_text` words it."""
    return codec_text(metadata.codec)


def scoring_details(classifier: Classifier) -> dict[str, str]:
    """Name -> value rows naming what ``classifier`` scores with (for report headers)."""
    return {
        "model": f"{classifier.metadata.name or 'model'} {classifier.model_id[:12]} "
        f"(weights sha256 {classifier.model_id})",
        "number format": classifier.precision,
        "device": str(classifier.device),
        "input codec": codec_text(classifier.codec),
    }


def scoring_line(classifier: Classifier) -> str:
    """One line naming model, number format, device and input codec."""
    d = scoring_details(classifier)
    return (
        f"model {classifier.metadata.name or 'model'} {classifier.model_id[:12]}, "
        f"{d['number format']} on {d['device']}, input codec {d['input codec']}"
    )


__all__ = ["codec_text", "metadata_codec_text", "scoring_details", "scoring_line"]
