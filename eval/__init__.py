"""Evaluation harness: ``python -m eval.run --task NAME``. Tasks register themselves."""
