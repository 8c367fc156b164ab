"""The core every layer shares: typed results, errors, photo loading, the model registry,
runtime profiles and the vocabulary loader. It imports nothing from ``tagger``,
``describer`` or the entry points above them."""
