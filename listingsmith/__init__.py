"""listingsmith: product photos → ready-to-publish e-commerce listings, offline."""

__version__ = "0.1.0"
