"""Showing a lead's fit score anywhere: {% load qualification_tags %}{% fit_badge lead %}."""
from django import template

from ..services import explanation_rows, fit_summary as _fit_summary

register = template.Library()


@register.filter
def fit_summary(organization) -> str:
    """The matched criteria with their weights, for a tooltip."""
    return _fit_summary(getattr(organization, "fit_explanation", None) or {})


@register.inclusion_tag("qualification/_fit_badge.html")
def fit_badge(organization):
    return {"organization": organization, "summary": fit_summary(organization) if organization.fit_score is not None else ""}


@register.filter
def fit_criteria(organization) -> list[dict]:
    """The lead's explanation rows (matched, weight, label in the current language)."""
    return explanation_rows(getattr(organization, "fit_explanation", None) or {})
