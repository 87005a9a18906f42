"""Scoring leads against the ideal customer profile, and the fit score as a stage entry rule."""
import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from pipeline import services as pipeline_services
from pipeline.organizations import organization_create, organization_update, organizations_bulk_import
from pipeline.exceptions import MoveRefused
from pipeline.models import Organization, Transition
from qualification import services, tasks
from qualification.models import Criterion, Profile
from tests.factories import DealFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


def test_score_is_the_share_of_matched_weights_with_an_explanation(profile):
    organization = OrganizationFactory(industry="software", company_size="1-10", country="DE")
    organization.refresh_from_db()
    assert organization.fit_score == 50  # industry 30 (case-insensitive) + country 20 of 100
    rows = {row["attribute"]: row for row in organization.fit_explanation["criteria"]}
    assert rows["industry"]["matched"] and rows["industry"]["weight"] == 30
    assert not rows["company_size"]["matched"] and rows["company_size"]["value"] == "1-10"
    assert rows["country"]["matched"]
    assert organization.fit_explanation["matched_weight"] == 50 and organization.fit_explanation["total_weight"] == 100
    assert services.fit_summary(organization.fit_explanation) == "Industry is Software or SaaS (+30); Country is DE or AT (+20)"


def test_without_a_profile_organizations_have_no_score(db):
    organization = OrganizationFactory()
    organization.refresh_from_db()
    assert organization.fit_score is None and organization.fit_explanation == {}


def test_an_inactive_profile_does_not_score(profile):
    Profile.objects.filter(pk=profile.pk).update(is_active=False)
    organization = OrganizationFactory(industry="Software")
    organization.refresh_from_db()
    assert organization.fit_score is None


def test_changing_an_organization_rescores_it(profile, admin_user):
    organization = OrganizationFactory(industry="Retail", company_size="51-200", country="FR")
    organization.refresh_from_db()
    assert organization.fit_score == 50
    organization_update(organization=organization, actor=admin_user, country="AT")
    organization.refresh_from_db()
    assert organization.fit_score == 70


def test_changing_fields_the_score_does_not_depend_on_runs_no_scoring(profile, admin_user):
    organization = OrganizationFactory(industry="Software")
    with CaptureQueriesContext(connection) as queries:
        organization_update(organization=organization, actor=admin_user, name="Renamed GmbH")
    assert not [q for q in queries if "qualification_criterion" in q["sql"]]
    assert Organization.objects.get(pk=organization.pk).name == "Renamed GmbH"


def test_saving_an_organization_by_itself_does_not_score_it_only_the_organization_services_do(profile):
    organization = Organization.objects.create(name="Written around the services", industry="Software", country="DE")
    organization.refresh_from_db()
    assert organization.fit_score is None
    created = organization_create(actor=None, name="Through the service", industry="Software", country="DE")
    assert Organization.objects.get(pk=created.pk).fit_score == 50


def test_a_bulk_import_scores_every_organization_with_one_profile_read(profile):
    organizations = [Organization(name=f"Lead {i}", industry="Software", country="DE" if i % 2 else "FR") for i in range(4)]
    with CaptureQueriesContext(connection) as queries:
        organizations_bulk_import(organizations=organizations, actor=None)
    assert len([q for q in queries if "qualification_criterion" in q["sql"]]) == 1
    assert len([q for q in queries if q["sql"].startswith('INSERT INTO "pipeline_organization"')]) == 1
    assert sorted(Organization.objects.filter(name__startswith="Lead ").values_list("fit_score", flat=True)) == [30, 30, 50, 50]


def test_flag_criteria_match_organizations_with_a_website_or_contact(db):
    profile = Profile.objects.create(name="Reachable")
    Criterion.objects.create(profile=profile, attribute="has_website", weight=1)
    Criterion.objects.create(profile=profile, attribute="has_contact", weight=3)
    organization = OrganizationFactory(website="", contact_name="Ann", contact_email="ann@example.com")
    organization.refresh_from_db()
    assert organization.fit_score == 75


def test_profile_change_rescores_all_organizations_once_after_commit(db, django_capture_on_commit_callbacks):
    organizations = [OrganizationFactory(industry="Retail", country="FR") for _ in range(3)]
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            profile = Profile.objects.create(name="Retail")
            Criterion.objects.create(profile=profile, attribute="industry", values="Retail", weight=100)
            Criterion.objects.create(profile=profile, attribute="country", values="DE", weight=100)
        assert Organization.objects.filter(fit_score__isnull=False).count() == 0  # not before commit
    assert len(callbacks) == 1  # a profile and two criteria saved in one transaction: one rescore
    assert sorted(Organization.objects.filter(pk__in=[x.pk for x in organizations]).values_list("fit_score", flat=True)) == [50, 50, 50]


def test_deleting_a_criterion_rescores(profile, django_capture_on_commit_callbacks):
    organization = OrganizationFactory(industry="Software", company_size="1-10", country="US")
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        profile.criteria.get(attribute="company_size").delete()
    organization.refresh_from_db()
    assert organization.fit_score == 60  # 30 of 50


def test_rescore_all_works_in_batches_and_is_idempotent(profile):
    organizations = [OrganizationFactory(industry="Software", company_size="51-200", country="US") for _ in range(5)]
    Organization.objects.update(fit_score=None, fit_explanation={})
    assert services.organizations_fit_rescore_all(batch_size=2) == 5
    assert set(Organization.objects.filter(pk__in=[x.pk for x in organizations]).values_list("fit_score", flat=True)) == {80}
    assert services.organizations_fit_rescore_all(batch_size=2) == 0


def test_rescore_task_does_not_overlap_with_a_running_one(profile):
    OrganizationFactory(industry="Software")
    Organization.objects.update(fit_score=None)
    running = tasks.rescore_lock()
    assert running.acquire()
    try:
        assert tasks.organizations_fit_rescore.delay().get() == 0
        assert Organization.objects.filter(fit_score__isnull=True).exists()
    finally:
        running.release()
    assert tasks.organizations_fit_rescore.delay().get() == 1


def test_criterion_values_are_checked_and_normalised(profile):
    criterion = Criterion(profile=profile, attribute="company_size", values="11–50 employees, 51-200", weight=5)
    criterion.clean()
    assert criterion.values == "11-50, 51-200"
    with pytest.raises(ValidationError):
        Criterion(profile=profile, attribute="source", values="carrier pigeon", weight=5).clean()
    with pytest.raises(ValidationError):
        Criterion(profile=profile, attribute="country", values="Germany", weight=5).clean()
    with pytest.raises(ValidationError):
        Criterion(profile=profile, attribute="industry", values="", weight=5).clean()
    country = Criterion(profile=profile, attribute="country", values="de; at", weight=5)
    country.clean()
    assert country.values == "DE, AT"


def test_only_one_profile_can_be_active(profile):
    from django.db import IntegrityError

    with pytest.raises(IntegrityError), transaction.atomic():
        Profile.objects.create(name="Second")


# --- The fit score as an entry rule -----------------------------------------------------------


@pytest.fixture
def fit_rule(stages, pipeline):
    """Only leads scoring at least 60 enter Meeting & demo."""
    return Transition.objects.create(pipeline=pipeline, from_stage=stages["Qualification"], to_stage=stages["Meeting & demo"],
                                     min_fit_score=60)


def test_move_with_an_organization_scoring_too_low_is_refused_with_its_score(profile, fit_rule, stages, rep):
    organization = OrganizationFactory(industry="Software", company_size="1-10", country="FR")  # 30
    deal = DealFactory(owner=rep, stage=stages["Qualification"], organization=organization)
    with pytest.raises(MoveRefused) as err:
        pipeline_services.deal_move(deal=deal, to_stage=stages["Meeting & demo"], actor=rep)
    assert str(err.value.message) == (
        "To enter “Meeting & demo”, the lead must score at least 60 on the ideal customer profile (it scores 30)."
    )
    assert err.value.code == "fit_score"
    deal.refresh_from_db()
    assert deal.stage == stages["Qualification"] and deal.version == 1


def test_move_with_an_organization_scoring_enough_is_allowed(profile, fit_rule, stages, rep):
    organization = OrganizationFactory(industry="Software", company_size="1-10", country="DE")
    Organization.objects.filter(pk=organization.pk).update(fit_score=60)
    deal = DealFactory(owner=rep, stage=stages["Qualification"], organization=Organization.objects.get(pk=organization.pk))
    moved = pipeline_services.deal_move(deal=deal, to_stage=stages["Meeting & demo"], actor=rep)
    assert moved.stage == stages["Meeting & demo"]


def test_move_with_an_unscored_organization_says_it_has_no_score(fit_rule, stages, rep):
    deal = DealFactory(owner=rep, stage=stages["Qualification"])
    with pytest.raises(MoveRefused) as err:
        pipeline_services.deal_move(deal=deal, to_stage=stages["Meeting & demo"], actor=rep)
    assert "(it has no score yet)" in str(err.value.message)


def test_new_deal_in_a_stage_with_a_minimum_fit_is_refused(profile, stages, pipeline, rep):
    Transition.objects.filter(to_stage=stages["Offer"], from_stage=None).update(min_fit_score=90)
    organization = OrganizationFactory(industry="Software", company_size="51-200", country="FR")  # 80
    with pytest.raises(MoveRefused) as err:
        pipeline_services.deal_create(actor=rep, organization=organization, title="Big one", stage=stages["Offer"], amount="100")
    assert str(err.value.message) == (
        "To enter “Offer”, the lead must score at least 90 on the ideal customer profile (it scores 80)."
    )


def test_the_strictest_minimum_of_several_rows_applies():
    rules = pipeline_services.EntryRules.from_transitions(
        [Transition(min_fit_score=40), Transition(min_fit_score=None), Transition(min_fit_score=70)]
    )
    assert rules.min_fit_score == 70


def test_changing_a_deals_organization_to_one_scoring_too_low_is_refused(profile, fit_rule, stages, pipeline, rep):
    Transition.objects.filter(to_stage=stages["Meeting & demo"], from_stage=None).update(min_fit_score=60)
    good = OrganizationFactory(industry="Software", company_size="51-200", country="DE")
    good.refresh_from_db()
    deal = DealFactory(owner=rep, stage=stages["Meeting & demo"], organization=good)
    weak = OrganizationFactory(industry="Retail", company_size="1-10", country="US")
    weak.refresh_from_db()
    with pytest.raises(MoveRefused):
        pipeline_services.deal_update(deal=deal, actor=rep, organization=weak)


def test_demo_profile_is_created_once_and_scores_the_organizations(db):
    from django.core.management import call_command
    from io import StringIO

    organization = OrganizationFactory(industry="Software", company_size="51-200", country="DE", source="referral",
                       contact_name="Ann", contact_email="ann@example.com")
    Organization.objects.filter(pk=organization.pk).update(fit_score=None)
    out = StringIO()
    call_command("rescore_organizations", "--demo-profile", stdout=out)
    assert "Created the demo profile" in out.getvalue()
    organization.refresh_from_db()
    assert organization.fit_score == 100
    call_command("rescore_organizations", "--demo-profile", stdout=out)
    assert Profile.objects.count() == 1
