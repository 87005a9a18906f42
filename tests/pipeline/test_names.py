"""Configuration names in each person's language: stages, pipelines, lost reasons and onboarding
items carry their names per language, the defaults ship in English and German, admins edit them
through the configuration services, and each person reads their own language."""
import pytest
from django.apps import apps
from django.utils import translation

from accounts.models import ConfigChange
from activities.models import OnboardingItem, OnboardingTask
from pipeline import configuration
from pipeline.configuration import ConfigurationRefused
from pipeline.defaults import default_translations_fill
from pipeline.models import LostReason, Pipeline, Stage
from pipeline.names import localized_name
from tests.factories import DealFactory

pytestmark = pytest.mark.django_db


def test_the_default_configuration_is_named_in_english_and_german(pipeline, stages):
    assert stages["Prospecting"].name_translations == {"en": "Prospecting", "de": "Akquise"}
    assert pipeline.name_translations == {"en": "New business", "de": "Neugeschäft"}
    assert LostReason.objects.get(name="Price too high").name_translations["de"] == "Preis zu hoch"


def test_each_person_reads_the_names_in_their_own_language(stages):
    with translation.override("de"):
        assert str(stages["Meeting & demo"]) == "Termin & Demo"
    with translation.override("en"):
        assert str(stages["Meeting & demo"]) == "Meeting & demo"
    # Regional variants read their language's name.
    assert localized_name(stages["Retention"], "de-at") == "Kundenbindung"


def test_a_name_without_a_translation_reads_as_entered(pipeline):
    stage = configuration.stage_create(pipeline=pipeline, actor=None, name="Vertrag", position=9, probability=90)
    with translation.override("en"):
        assert str(stage) == "Vertrag"


def test_the_deal_page_shows_stage_pipeline_and_lost_reason_in_the_users_language(client, rep, stages):
    deal = DealFactory(owner=rep, stage=stages["Offer"], amount=100)
    rep.language = "de"
    rep.save(update_fields=["language"])
    client.force_login(rep)
    body = client.get(deal.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Angebot</span>" in body and ">Neugeschäft</a>" in body
    assert ">Verhandlung</option>" in body and ">Preis zu hoch</option>" in body
    assert ">Negotiation</option>" not in body


def test_admins_set_names_per_language_through_the_configuration_service_with_an_audit_row(stages, admin_user):
    stage = configuration.stage_update(
        stage=stages["Offer"], actor=admin_user, name_translations={"de": "  Angebot  erstellt ", "en": ""}
    )
    assert stage.name_translations == {"de": "Angebot erstellt"}
    change = ConfigChange.objects.get(action="update", object_id=str(stage.pk))
    assert "name_translations" in change.changes


def test_a_name_for_a_language_stageflow_does_not_speak_is_refused(stages, admin_user):
    with pytest.raises(ConfigurationRefused) as refused:
        configuration.lost_reason_update(
            reason=LostReason.objects.first(), actor=admin_user, name_translations={"fr": "Trop cher"}
        )
    assert refused.value.field == "name_translations"


def test_the_admin_edits_a_stages_names_per_language(client, admin_user, stages):
    from django.urls import reverse

    client.force_login(admin_user)
    stage = stages["Qualification"]
    url = reverse("admin:pipeline_stage_change", args=[stage.pk])
    form = client.get(url).context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data["name_translations"] = '{"en": "Qualification", "de": "Qualifiziert"}'
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    stage.refresh_from_db()
    assert stage.name_translations["de"] == "Qualifiziert"
    data["name_translations"] = '{"xx": "?"}'
    assert client.post(url, data).status_code == 200  # shown as an error on the form, nothing saved


def test_the_data_migration_names_unchanged_defaults_and_leaves_renamed_ones_alone(pipeline, stages):
    Stage.objects.filter(pk=stages["Offer"].pk).update(name_translations={})
    Stage.objects.filter(pk=stages["Negotiation"].pk).update(name="Contract talks", name_translations={})
    Pipeline.objects.filter(pk=pipeline.pk).update(name="Neugeschäft", name_translations={})
    default_translations_fill(apps)
    assert Stage.objects.get(pk=stages["Offer"].pk).name_translations == {"en": "Offer", "de": "Angebot"}
    assert Stage.objects.get(pk=stages["Negotiation"].pk).name_translations == {}
    assert Pipeline.objects.get(pk=pipeline.pk).name_translations["en"] == "New business"


def test_an_onboarding_task_reads_its_items_title_in_the_readers_language(rep, stages):
    deal = DealFactory(owner=rep, stage=stages["Retention"])
    item = OnboardingItem.objects.create(
        pipeline=stages["Retention"].pipeline, title="Kick-off call", name_translations={"de": "Kick-off-Termin"}
    )
    task = OnboardingTask.objects.create(deal=deal, item=item, title=item.title)
    with translation.override("de"):
        assert task.display_title == "Kick-off-Termin"
    renamed = OnboardingTask.objects.create(deal=DealFactory(owner=rep, stage=stages["Retention"]), item=item, title="Old")
    with translation.override("de"):
        assert renamed.display_title == "Old"  # what was ticked off stays as it was copied


def test_a_rename_shows_at_once_in_the_installations_language_and_other_languages_keep_theirs(stages, settings):
    settings.LANGUAGE_CODE = "en"
    stage = configuration.stage_update(stage=stages["Offer"], actor=None, name="Proposal")
    with translation.override("en"):
        assert str(stage) == "Proposal"
    with translation.override("de"):
        assert str(stage) == "Angebot"


def test_the_board_and_its_move_toast_name_stages_in_the_users_language(client, rep, stages):
    deal = DealFactory(owner=rep, stage=stages["Prospecting"])
    rep.language = "de"
    rep.save(update_fields=["language"])
    client.force_login(rep)
    body = client.get("/pipeline/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert '">Akquise</h2>' in body and '">Kundenbindung</h2>' in body and ">Neugeschäft" in body
    assert '">Prospecting</h2>' not in body and ">Preis zu hoch</option>" in body
    response = client.post(
        f"/pipeline/deals/{deal.pk}/move/", {"stage": stages["Qualification"].pk, "version": deal.version},
        HTTP_HX_REQUEST="true", HTTP_ACCEPT_LANGUAGE="de",
    )
    assert "Qualifizierung" in response.content.decode() and "Akquise" in response.content.decode()
