"""tagger: photos of one product → typed ``Attributes`` (detections, colours, tags, facts)."""

from listingsmith.core.errors import ImageLoadError, ListingsmithError, ModelError, ValidationError
from listingsmith.core.types import (SCHEMA_VERSION, Attributes, CategoryPrediction, ColorSwatch,
                          Detections, Fact, ImageInfo, Listing, QualityWarning, Tag, TextSpan)

__all__ = [
    "SCHEMA_VERSION", "Attributes", "CategoryPrediction", "ColorSwatch", "Detections", "Fact",
    "ImageInfo", "ImageLoadError", "Listing", "ListingsmithError", "ModelError", "QualityWarning",
    "Tag", "TextSpan", "ValidationError",
]
