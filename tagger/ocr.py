"""OCR on the bundled PP-OCR models (rapidocr + onnxruntime): photos → ``TextSpan`` lines."""

from __future__ import annotations

import numpy as np

from listingsmith.core import vocab
from listingsmith.core.io import ProductImage
from listingsmith.core.registry import ModelSpec, load_once, resolve, spec_for
from listingsmith.core.runtime import RuntimeProfile, runtime_profile
from listingsmith.core.types import TextSpan

_TUNING = vocab.load("tagger", "vocab/ocr.toml")
MIN_LINE_SCORE: float = _TUNING["min_line_score"]
MIN_LINE_CHARS: int = _TUNING["min_line_chars"]


class OcrEngine:
    """PP-OCRv6 detection + recognition (and the 0/180 degree angle classifier where the
    runtime profile keeps it); ``threads`` overrides the profile's onnxruntime threads."""

    def __init__(self, spec: ModelSpec | None = None, *, threads: int | None = None,
                 profile: RuntimeProfile | None = None):
        self.spec = spec or spec_for("ocr", None)
        self.profile = profile or runtime_profile()
        self.threads = threads if threads is not None else self.profile.ocr_threads

    @property
    def engine(self):
        profile = self.profile
        key = (f"rapidocr-threads={self.threads}-det={profile.ocr_det_limit_type}"
               f"{profile.ocr_det_limit_side}-cls={profile.ocr_angle_classifier}")
        return load_once(self.spec, key, self._build)

    def _build(self):
        from rapidocr import RapidOCR

        folder = resolve(self.spec)
        det, rec, cls = (str(folder / name) for name in self.spec.files)
        params = {"Global.log_level": "error", "Det.model_path": det, "Rec.model_path": rec,
                  "Cls.model_path": cls, "Global.use_cls": self.profile.ocr_angle_classifier,
                  "Det.limit_type": self.profile.ocr_det_limit_type,
                  "Det.limit_side_len": self.profile.ocr_det_limit_side}
        if self.threads:
            params["EngineConfig.onnxruntime.intra_op_num_threads"] = self.threads
        return RapidOCR(params=params)

    def __call__(self, images: list[ProductImage]) -> list[list[TextSpan]]:
        """One list of lines per image, in the recogniser's reading order."""
        return [self._read(index, image) for index, image in enumerate(images)]

    def _read(self, index: int, image: ProductImage) -> list[TextSpan]:
        result = self.engine(image.image)
        if result.boxes is None or result.txts is None:
            return []
        spans = []
        for quad, text, score in zip(result.boxes, result.txts, result.scores):
            text = text.strip()
            if len(text) < MIN_LINE_CHARS or score < MIN_LINE_SCORE:
                continue
            quad = np.asarray(quad, dtype=float)
            box = (float(quad[:, 0].min()), float(quad[:, 1].min()),
                   float(quad[:, 0].max()), float(quad[:, 1].max()))
            spans.append(TextSpan(text=text, box=box, score=round(float(score), 4),
                                  image_index=index, line_height=round(_glyph_height(quad), 1)))
        return spans


def _glyph_height(quad: np.ndarray) -> float:
    """The shorter side of the detected quadrilateral: letter height whatever the rotation."""
    sides = np.linalg.norm(quad - np.roll(quad, -1, axis=0), axis=1)
    return float(min((sides[0] + sides[2]) / 2, (sides[1] + sides[3]) / 2))
