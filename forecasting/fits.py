"""The fitted forecast model as stored (`ForecastFit`): what the snapshot and the dashboard's stage
figures read, refitted on a schedule by `services.learned_probabilities_refit`."""

from __future__ import annotations

from datetime import date

from . import methods
from .models import ForecastFit
from .sums import stage_arrays


def stored_model(*, pipeline_id: int, as_of: date, stages: tuple | None = None) -> methods.LearnedModel | None:
    """The latest fit stored on or before `as_of`, as a model over the stages as they are now;
    None before the first fit (or for a pipeline without stages). Reads only."""
    stages = stages if stages is not None else stage_arrays(pipeline_id)
    if not len(stages[0]):
        return None
    parameters = stored_parameters(pipeline_id=pipeline_id, as_of=as_of)
    return None if parameters is None else methods.model_from_parameters(parameters, *stages)


def stored_parameters(*, pipeline_id: int, as_of: date) -> dict | None:
    return (
        ForecastFit.objects.filter(pipeline_id=pipeline_id, fitted_on__lte=as_of)
        .order_by("-fitted_on", "-fitted_at", "-pk")
        .values_list("parameters", flat=True)
        .first()
    )
