"""describer: ``Attributes`` → a grounded ``Listing`` (title, bullets, description)."""
