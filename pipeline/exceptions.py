"""Errors the pipeline services raise. Each carries a message a sales rep understands."""


class PipelineError(Exception):
    """A request the rules refuse. `message` is translated and safe to show to the user."""

    status_code = 400

    def __init__(self, message, *, deal=None, code: str = "refused"):
        super().__init__(str(message))
        self.message = message
        self.deal = deal
        self.code = code


class MoveRefused(PipelineError):
    """The transition table or a stage's entry rules forbid this change; nothing was changed."""


class VersionConflict(PipelineError):
    """The deal changed since the client loaded it; `deal` holds the current state."""

    status_code = 409

    def __init__(self, message, *, deal=None):
        super().__init__(message, deal=deal, code="conflict")
