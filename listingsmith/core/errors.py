"""Exception types. Every message is one line that names the input and the fix."""


class ListingsmithError(Exception):
    """Base class: anything the CLI prints as a one-line error instead of a traceback."""


class ValidationError(ListingsmithError, ValueError):
    """A typed result was built with a value of the wrong kind ("expected X, got Y")."""


class ImageLoadError(ListingsmithError):
    """A photo could not be read; the message names the file and the reason."""

    def __init__(self, source: str, reason: str):
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


class ModelError(ListingsmithError):
    """A model is unknown, missing, or its files do not match the pinned hashes."""


class TemplateError(ListingsmithError):
    """A prompt template is missing or was rendered with an undefined variable."""
