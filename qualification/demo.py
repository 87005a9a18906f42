"""A demo ideal customer profile that fits the demo data (pipeline/demo.py), for `make run`."""
from django.db import transaction

from pipeline.models import Organization

from .models import Criterion, Profile
from .services import organizations_fit_rescore_all

DEMO_CRITERIA = (
    ("industry", "Software, Mechanical engineering, Automotive supplier, Logistics, E-commerce", 30),
    ("company_size", "51-200, 201-1000", 25),
    ("country", "DE, AT, CH", 20),
    ("source", "referral, event, webinar", 15),
    ("has_contact", "", 10),
)


def demo_profile_create() -> tuple[Profile | None, int]:
    """Create the demo profile unless a profile exists, and score all leads now (without waiting
    for a worker). Returns the profile and how many leads have a score."""
    if Profile.objects.exists():
        return None, 0
    with transaction.atomic():
        profile = Profile.objects.create(
            name="Mid-size manufacturers and software houses in DACH",
            description="Demo profile: edit the criteria and weights to match your best customers.",
        )
        for position, (attribute, values, weight) in enumerate(DEMO_CRITERIA, start=1):
            Criterion.objects.create(profile=profile, attribute=attribute, values=values, weight=weight, position=position)
    organizations_fit_rescore_all()
    return profile, Organization.objects.filter(fit_score__isnull=False).count()
