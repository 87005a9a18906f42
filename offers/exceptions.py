"""Errors the offer services raise. Like the pipeline's, each carries a user-facing `message`."""
from pipeline.exceptions import PipelineError


class OfferError(PipelineError):
    """A request the offer rules refuse; nothing was changed."""


class LinkUnavailable(OfferError):
    """The customer's link is unknown, expired, withdrawn or already answered."""

    status_code = 410


class StaleDocument(OfferError):
    """The offer changed after the customer opened it: they must review it again."""

    status_code = 409
