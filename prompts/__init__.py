"""Prompt templates and generation options as data files (jinja2, StrictUndefined).

Nothing here runs; ``describer.prompting`` loads these files by name. See README.md.
"""
