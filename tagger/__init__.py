"""tagger: photos of one product → typed ``Attributes`` (detections, colours, tags, facts).

The typed results themselves live in ``listingsmith.core.types``; ``tagger.pipeline.Tagger``
is the entry point, its stages are in ``tagger.stages``.
"""
