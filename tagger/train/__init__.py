"""Training scripts for the small heads shipped in ``tagger/weights``."""
