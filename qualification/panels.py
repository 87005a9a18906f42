"""What the qualification app shows on the pipeline's pages (registered in QualificationConfig.ready)."""
from django.template.loader import render_to_string


def organization_fit_panel(*, request, organization, can_change) -> str:
    """The organisation page, under its details: the fit score and, criterion by criterion, why."""
    return render_to_string("qualification/_fit_panel.html", {"organization": organization}, request=request)
