"""The admin configures pipelines and never bypasses the deal services or destroys history."""
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from pipeline import services
from pipeline.models import (
    Deal,
    DealChange,
    DealStatus,
    Organization,
    LostReason,
    Pipeline,
    Stage,
    StageChange,
    Transition,
)
from tests.factories import DealFactory, OrganizationFactory, lost_reason

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def other_pipeline(db):
    pipeline = Pipeline.objects.create(name="Upsell", position=1)
    Stage.objects.create(pipeline=pipeline, name="Upsell idea", position=0)
    Stage.objects.create(pipeline=pipeline, name="Upsell signed", position=1, kind="won", probability=100)
    return pipeline


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def form_data(response) -> dict:
    """The POST data of an admin change form as it was rendered (the main form and its inlines)."""
    data = {}

    def add(form):
        for name, field in form.fields.items():
            value = form[name].value()
            key = form.add_prefix(name)
            if value is None:
                value = ""
            if isinstance(value, bool):
                if value:
                    data[key] = "on"
                continue
            data[key] = value

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for name, field in formset.management_form.fields.items():
            data[formset.management_form.add_prefix(name)] = formset.management_form[name].value()
        for form in formset.forms:
            add(form)
    return data


def url(name, *args):
    return reverse(f"admin:pipeline_{name}", args=args)


# --- Pages render ------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["pipeline", "stage", "transition", "lostreason", "organization", "deal"])
def test_changelist_and_add_pages_render(client, deal, model):
    assert client.get(url(f"{model}_changelist")).status_code == 200
    assert client.get(url(f"{model}_add")).status_code == 200


def test_change_pages_render(client, deal, pipeline, stages):
    transition = Transition.objects.filter(pipeline=pipeline).first()
    for name, pk in (("pipeline", pipeline.pk), ("stage", stages["Offer"].pk), ("transition", transition.pk),
                     ("lostreason", lost_reason().pk), ("organization", deal.organization_id), ("deal", deal.pk)):
        assert client.get(url(f"{name}_change", pk)).status_code == 200, name


def test_history_admins_are_read_only(client, deal):
    change = StageChange.objects.get(deal=deal)
    services.deal_update(deal=deal, actor=None, amount=Decimal("2000"))
    field_change = DealChange.objects.get(deal=deal)
    for name, pk in (("stagechange", change.pk), ("dealchange", field_change.pk)):
        assert client.get(url(f"{name}_changelist")).status_code == 200
        assert client.get(url(f"{name}_add")).status_code == 403
        page = client.get(url(f"{name}_change", pk))
        assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
        assert client.post(url(f"{name}_change", pk), {}).status_code == 403
        assert client.get(url(f"{name}_delete", pk)).status_code == 403
    assert StageChange.objects.filter(pk=change.pk).exists()


def test_deal_changelist_query_count_does_not_grow_with_deals(client, rep, stages, django_assert_max_num_queries):
    DealFactory.create_batch(3, owner=rep, stage=stages["Offer"])
    with django_assert_max_num_queries(40) as few:
        client.get(url("deal_changelist"))
    DealFactory.create_batch(40, owner=rep, stage=stages["Offer"])
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(url("deal_changelist")).status_code == 200


# --- Pipelines, stages, transitions ----------------------------------------------------------------


def test_pipeline_page_lists_its_stages_in_order_with_their_settings(client, pipeline):
    response = client.get(url("pipeline_change", pipeline.pk))
    stage_inline = response.context["inline_admin_formsets"][0].formset
    assert [f.instance.name for f in stage_inline.forms] == [
        "Prospecting", "Qualification", "Meeting & demo", "Offer", "Negotiation", "Retention",
    ]
    assert set(stage_inline.forms[0].fields) >= {"name", "position", "probability", "kind", "rotting_days", "colour",
                                                  "guidance"}


def test_pipeline_page_counts_a_stages_open_deals_apart_from_its_won_and_lost_ones(client, pipeline, stages, rep):
    DealFactory(owner=rep, stage=stages["Offer"])
    lost = DealFactory(owner=rep, stage=stages["Offer"], amount=Decimal("10"))
    services.deal_mark_lost(deal=lost, reason=lost_reason(), actor=rep)
    response = client.get(url("pipeline_change", pipeline.pk))
    body = response.content.decode()
    assert "Open deals" in body and "All deals (won and lost too)" in body
    inline = response.context["inline_admin_formsets"][0]
    offer = next(form for form in inline if form.form.instance == stages["Offer"])
    shown = {
        field.field["name"]: field.contents()
        for fieldset in offer for line in fieldset for field in line if field.is_readonly
    }
    assert (shown["open_deal_count"], shown["deal_count"]) == ("1", "2")


def test_transitions_list_has_short_column_titles(client, pipeline):
    body = client.get(url("transition_changelist")).content.decode()
    for title in ("Amount needed", "Close date needed", "Contact needed", "Next step needed", "Minimum fit score"):
        assert f">{title}<" in body.replace("</a>", "<")
    assert "Needs an expected close date" not in body


def test_transition_inline_offers_only_the_pipelines_own_stages(client, pipeline, other_pipeline):
    response = client.get(url("pipeline_change", other_pipeline.pk))
    transitions = response.context["inline_admin_formsets"][1].formset
    choices = {str(label) for _value, label in transitions.empty_form.fields["to_stage"].choices}
    assert choices == {"---------", "Upsell idea", "Upsell signed"}
    assert transitions.empty_form.fields["from_stage"].empty_label == "any stage"


def test_admin_can_add_transitions_with_entry_rules_on_the_pipeline_page(client, other_pipeline):
    idea, signed = other_pipeline.stages.order_by("position")
    data = form_data(client.get(url("pipeline_change", other_pipeline.pk)))
    data.update({
        "transitions-TOTAL_FORMS": "2",
        "transitions-0-from_stage": "", "transitions-0-to_stage": str(idea.pk),
        "transitions-1-from_stage": str(idea.pk), "transitions-1-to_stage": str(signed.pk),
        "transitions-1-requires_amount": "on",
    })
    response = client.post(url("pipeline_change", other_pipeline.pk), data)
    assert response.status_code == 302, response.context and response.context["errors"]
    rows = set(Transition.objects.filter(pipeline=other_pipeline).values_list("from_stage", "to_stage", "requires_amount"))
    assert rows == {(None, idea.pk, False), (idea.pk, signed.pk, True)}


def test_transition_with_a_stage_of_another_pipeline_is_refused(client, pipeline, other_pipeline, stages):
    response = client.post(url("transition_add"), {
        "pipeline": other_pipeline.pk, "from_stage": stages["Offer"].pk,
        "to_stage": other_pipeline.stages.first().pk,
    })
    assert response.status_code == 200
    assert "“Offer” belongs to another pipeline." in response.context["adminform"].form.errors["from_stage"]
    assert not Transition.objects.filter(pipeline=other_pipeline).exists()


def test_transition_from_any_stage_can_be_added_in_its_own_admin(client, other_pipeline):
    idea = other_pipeline.stages.get(name="Upsell idea")
    response = client.post(url("transition_add"), {"pipeline": other_pipeline.pk, "from_stage": "",
                                                   "to_stage": idea.pk, "requires_next_step": "on"})
    assert response.status_code == 302
    transition = Transition.objects.get(pipeline=other_pipeline)
    assert transition.from_stage is None and transition.requires_next_step
    assert "any stage" in client.get(url("transition_changelist")).content.decode()


def test_stage_settings_are_edited_on_the_stage_page(client, stages):
    offer = stages["Offer"]
    data = form_data(client.get(url("stage_change", offer.pk)))
    data.update({"probability": "55", "rotting_days": "10", "colour": "#123abc", "guidance": "Send it."})
    assert client.post(url("stage_change", offer.pk), data).status_code == 302
    offer.refresh_from_db()
    assert (offer.probability, offer.rotting_days, offer.colour, offer.guidance) == (55, 10, "#123abc", "Send it.")


def test_a_stage_holding_deals_cannot_switch_between_open_and_won(client, deal, stages):
    data = form_data(client.get(url("stage_change", stages["Prospecting"].pk)))
    data["kind"] = "won"
    response = client.post(url("stage_change", stages["Prospecting"].pk), data)
    assert response.status_code == 200
    assert "cannot switch between open and won" in str(response.context["adminform"].form.non_field_errors())
    assert Stage.objects.get(pk=stages["Prospecting"].pk).kind == "open"


# --- Deleting stages never cascades -------------------------------------------------------------------


def test_deleting_a_stage_with_deals_is_refused_with_a_message(client, deal, stages):
    stage = stages["Prospecting"]
    for method in (client.get, client.post):
        response = method(url("stage_delete", stage.pk), {"post": "yes"} if method == client.post else None)
        assert response.status_code == 302 and response.url == url("stage_change", stage.pk)
        assert messages_of(response)[-1] == (
            "The stage “Prospecting” still holds 1 deal. Move it to another stage first; "
            "a stage is never deleted together with its deals."
        )
    assert Stage.objects.filter(pk=stage.pk).exists() and Deal.objects.filter(pk=deal.pk).exists()


def test_deleting_a_stage_that_only_appears_in_history_is_refused(client, deal, stages, rep):
    services.deal_move(deal=deal, to_stage=stages["Qualification"], actor=rep)
    stage = stages["Prospecting"]
    assert not stage.deals.exists()
    response = client.post(url("stage_delete", stage.pk), {"post": "yes"})
    assert response.status_code == 302
    assert "appears in the history of deals" in messages_of(response)[0]
    assert Stage.objects.filter(pk=stage.pk).exists()
    assert StageChange.objects.filter(deal=deal).count() == 2


def test_an_unused_stage_can_be_deleted(client, other_pipeline):
    stage = other_pipeline.stages.get(name="Upsell idea")
    assert client.get(url("stage_delete", stage.pk)).status_code == 200
    response = client.post(url("stage_delete", stage.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not Stage.objects.filter(pk=stage.pk).exists()


def test_deleting_a_stage_with_deals_in_the_pipeline_inline_is_refused(client, deal, pipeline, stages):
    data = form_data(client.get(url("pipeline_change", pipeline.pk)))
    position = [f for f in data if f.startswith("stages-") and f.endswith("-id") and data[f] == stages["Prospecting"].pk]
    data[position[0].replace("-id", "-DELETE")] = "on"
    response = client.post(url("pipeline_change", pipeline.pk), data)
    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][0].formset.non_form_errors()
    assert any("still holds 1 deal" in e for e in errors)
    assert Stage.objects.filter(pk=stages["Prospecting"].pk).exists()


def test_an_unused_stage_can_be_removed_in_the_pipeline_inline(client, other_pipeline):
    data = form_data(client.get(url("pipeline_change", other_pipeline.pk)))
    idea = other_pipeline.stages.get(name="Upsell idea")
    key = next(f for f in data if f.startswith("stages-") and f.endswith("-id") and data[f] == idea.pk)
    data[key.replace("-id", "-DELETE")] = "on"
    assert client.post(url("pipeline_change", other_pipeline.pk), data).status_code == 302
    assert list(other_pipeline.stages.values_list("name", flat=True)) == ["Upsell signed"]


def test_bulk_delete_of_stages_in_use_is_refused_and_deletes_nothing(client, deal, stages, other_pipeline):
    unused = other_pipeline.stages.get(name="Upsell idea")
    selected = [stages["Prospecting"].pk, stages["Offer"].pk, unused.pk]
    response = client.post(url("stage_changelist"), {"action": "delete_selected", "_selected_action": selected,
                                                     "post": "yes", "index": 0})
    assert response.status_code == 302
    texts = messages_of(response)
    assert any("still holds 1 deal" in t for t in texts) and "Nothing was deleted." in texts
    assert Stage.objects.filter(pk__in=selected).count() == 3


def test_bulk_delete_of_unused_stages_asks_then_deletes(client, other_pipeline):
    selected = list(other_pipeline.stages.values_list("pk", flat=True))
    response = client.post(url("stage_changelist"), {"action": "delete_selected", "_selected_action": selected,
                                                     "index": 0})
    assert response.status_code == 200 and "Are you sure" in response.content.decode()
    response = client.post(url("stage_changelist"), {"action": "delete_selected", "_selected_action": selected,
                                                     "post": "yes"})
    assert response.status_code == 302
    assert not Stage.objects.filter(pk__in=selected).exists()


def test_deleting_a_pipeline_with_deals_or_a_used_lost_reason_is_refused(client, deal, pipeline, rep):
    response = client.post(url("pipeline_delete", pipeline.pk), {"post": "yes"})
    assert response.status_code == 302 and "still holds 1 deal" in messages_of(response)[0]
    assert Pipeline.objects.filter(pk=pipeline.pk).exists()
    reason = lost_reason()
    services.deal_mark_lost(deal=deal, reason=reason, actor=rep)
    response = client.post(url("lostreason_delete", reason.pk), {"post": "yes"})
    assert response.status_code == 302 and "Mark it inactive instead" in messages_of(response)[0]
    assert LostReason.objects.filter(pk=reason.pk).exists()


def test_lost_reasons_are_ordered_and_can_be_deactivated(client):
    response = client.get(url("lostreason_changelist"))
    names = [r.name for r in response.context["cl"].result_list]
    assert names[0] == "Price too high" and len(names) == 7
    reason = lost_reason()
    data = {"name": reason.name, "position": "9", "is_active": ""}
    assert client.post(url("lostreason_change", reason.pk), data).status_code == 302
    reason.refresh_from_db()
    assert (reason.position, reason.is_active) == (9, False)


# --- Deals go through the services ---------------------------------------------------------------------


def test_deal_stage_and_status_are_read_only_and_posting_them_changes_nothing(client, deal, stages):
    page = client.get(url("deal_change", deal.pk))
    form = page.context["adminform"].form
    assert "stage" not in form.fields and "status" not in form.fields
    data = form_data(page)
    data.update({"stage": stages["Negotiation"].pk, "status": "won", "amount": "2500.00"})
    response = client.post(url("deal_change", deal.pk), data)
    assert response.status_code == 302
    deal.refresh_from_db()
    assert (deal.stage, deal.status, deal.amount, deal.version) == (stages["Prospecting"], "open", Decimal("2500.00"), 2)
    change = DealChange.objects.get(deal=deal)
    assert (change.field, change.old_value, change.new_value) == ("amount", "1000.00", "2500.00")
    assert StageChange.objects.filter(deal=deal).count() == 1


def test_editing_a_stale_deal_is_refused_as_a_conflict(client, deal, rep):
    data = form_data(client.get(url("deal_change", deal.pk)))
    services.deal_update(deal=deal, actor=rep, next_step="Call back")
    data["amount"] = "9999.00"
    response = client.post(url("deal_change", deal.pk), data)
    assert response.status_code == 302
    assert "Someone changed this deal in the meantime" in messages_of(response)[0]
    deal.refresh_from_db()
    assert deal.amount == Decimal("1000.00")


def test_editing_a_deal_against_its_stage_rules_shows_an_error(client, rep, stages):
    deal = DealFactory(owner=rep, stage=stages["Offer"])
    data = form_data(client.get(url("deal_change", deal.pk)))
    data["amount"] = ""
    response = client.post(url("deal_change", deal.pk), data)
    assert response.status_code == 200
    assert "A deal in “Offer” needs an amount." in str(response.context["adminform"].form.non_field_errors())


def test_adding_a_deal_in_the_admin_checks_the_fit_score_rule_as_the_service_does(client, rep, stages):
    Transition.objects.filter(to_stage=stages["Qualification"], from_stage=None).update(min_fit_score=60)
    organization = OrganizationFactory()
    Organization.objects.filter(pk=organization.pk).update(fit_score=40)
    response = client.post(url("deal_add"), {
        "title": "Pilot", "organization": organization.pk, "stage": stages["Qualification"].pk, "owner": rep.pk,
        "amount": "1200", "currency": "EUR", "expected_close": "", "probability": "", "next_step": "Call",
        "external_id": "",
    })
    assert response.status_code == 200
    expected = "To enter “Qualification”, the lead must score at least 60 on the ideal customer profile (it scores 40)."
    assert [expected] == response.context["adminform"].form.non_field_errors()
    assert not Deal.objects.filter(title="Pilot").exists()


def test_adding_a_deal_in_the_admin_goes_through_deal_create(client, rep, stages, admin_user):
    organization = OrganizationFactory()
    response = client.post(url("deal_add"), {
        "title": "Pilot", "organization": organization.pk, "stage": stages["Qualification"].pk, "owner": rep.pk,
        "amount": "1200", "currency": "eur", "expected_close": "", "probability": "", "next_step": "Call",
        "external_id": "",
    })
    assert response.status_code == 302
    deal = Deal.objects.get(title="Pilot")
    assert (deal.stage, deal.currency, deal.owner) == (stages["Qualification"], "EUR", rep)
    first = StageChange.objects.get(deal=deal)
    assert (first.from_stage, first.to_stage, first.actor) == (None, stages["Qualification"], admin_user)


def test_move_action_moves_through_the_service_and_records_history(client, rep, stages, admin_user):
    deals = DealFactory.create_batch(2, owner=rep, stage=stages["Meeting & demo"])
    response = client.post(url("deal_changelist"), {
        "action": f"move_to_stage_{stages['Offer'].pk}", "_selected_action": [d.pk for d in deals], "index": 0,
    })
    assert response.status_code == 302
    assert messages_of(response) == ["Moved 2 deals to “Offer”."]
    for deal in deals:
        deal.refresh_from_db()
        assert (deal.stage, deal.version) == (stages["Offer"], 2)
        change = StageChange.objects.filter(deal=deal).latest("at", "pk")
        assert (change.from_stage, change.to_stage, change.actor) == (stages["Meeting & demo"], stages["Offer"],
                                                                      admin_user)


def test_move_action_reports_refusals_and_moves_the_rest(client, rep, stages):
    ok = DealFactory(owner=rep, stage=stages["Meeting & demo"], title="Has amount")
    refused = DealFactory(owner=rep, stage=stages["Meeting & demo"], amount=None, title="No amount")
    response = client.post(url("deal_changelist"), {
        "action": f"move_to_stage_{stages['Offer'].pk}", "_selected_action": [ok.pk, refused.pk], "index": 0,
    })
    assert messages_of(response) == [
        "Moved 1 deal to “Offer”.",
        "No amount: To enter “Offer”, this deal needs an amount.",
    ]
    refused.refresh_from_db()
    assert refused.stage == stages["Meeting & demo"] and refused.version == 1
    assert StageChange.objects.filter(deal=refused).count() == 1


def test_mark_lost_action_asks_for_a_reason_then_marks_lost(client, deal, admin_user):
    ask = client.post(url("deal_changelist"), {"action": "mark_lost", "_selected_action": [deal.pk], "index": 0})
    assert ask.status_code == 200 and "Why was this deal lost?" in ask.content.decode()
    reason = lost_reason()
    response = client.post(url("deal_changelist"), {
        "action": "mark_lost", "_selected_action": [deal.pk], "apply": "1", "reason": reason.pk, "note": "Too dear",
    })
    assert response.status_code == 302 and messages_of(response) == ["Marked 1 deal lost."]
    deal.refresh_from_db()
    assert (deal.status, deal.lost_reason, deal.lost_note) == (DealStatus.LOST, reason, "Too dear")
    change = StageChange.objects.filter(deal=deal).latest("at", "pk")
    assert (change.to_status, change.lost_reason, change.actor) == ("lost", reason, admin_user)


def test_mark_lost_without_a_reason_asks_again(client, deal):
    response = client.post(url("deal_changelist"), {
        "action": "mark_lost", "_selected_action": [deal.pk], "apply": "1", "reason": "",
    })
    assert response.status_code == 200 and "This field is required" in response.content.decode()
    deal.refresh_from_db()
    assert deal.status == DealStatus.OPEN


def test_reopen_action_reopens_lost_deals_and_reports_won_ones(client, rep, stages):
    lost = DealFactory(owner=rep, stage=stages["Offer"])
    services.deal_mark_lost(deal=lost, reason=lost_reason(), actor=rep)
    won = DealFactory(owner=rep, stage=stages["Negotiation"], title="Won deal", expected_close="2026-01-01")
    services.deal_move(deal=won, to_stage=stages["Retention"], actor=rep)
    response = client.post(url("deal_changelist"), {
        "action": "reopen", "_selected_action": [lost.pk, won.pk], "index": 0,
    })
    assert messages_of(response) == [
        "Reopened 1 deal.",
        "Won deal: A won deal is reopened by moving it back to an open stage.",
    ]
    lost.refresh_from_db()
    won.refresh_from_db()
    assert (lost.status, won.status) == (DealStatus.OPEN, DealStatus.WON)


def test_organization_admin_shows_the_organizations_deals(client, deal):
    response = client.get(url("organization_change", deal.organization_id))
    assert deal.title in response.content.decode()
    assert client.get(url("organization_changelist"), {"q": deal.organization.name}).context["cl"].result_count >= 1
    assert Organization.objects.filter(pk=deal.organization_id).exists()


def test_adding_a_pipeline_with_stages_then_asks_for_its_transitions(client):
    response = client.post(url("pipeline_add"), {
        "name": "Partners", "position": "2", "is_active": "on",
        "stages-TOTAL_FORMS": "2", "stages-INITIAL_FORMS": "0", "stages-MIN_NUM_FORMS": "0",
        "stages-MAX_NUM_FORMS": "1000",
        "stages-0-name": "Intro", "stages-0-position": "0", "stages-0-probability": "10", "stages-0-kind": "open",
        "stages-0-colour": "#112233", "stages-0-rotting_days": "", "stages-0-guidance": "",
        "stages-1-name": "Signed", "stages-1-position": "1", "stages-1-probability": "100", "stages-1-kind": "won",
        "stages-1-colour": "#445566", "stages-1-rotting_days": "", "stages-1-guidance": "",
    })
    assert response.status_code == 302
    pipeline = Pipeline.objects.get(name="Partners")
    assert list(pipeline.stages.values_list("name", "kind")) == [("Intro", "open"), ("Signed", "won")]
    assert any("Now add the pipeline's transitions" in m for m in messages_of(response))
    # The default pipeline stays the default.
    assert Pipeline.objects.get(is_default=True).name == "New business"


# --- Custom fields --------------------------------------------------------------------------------------


def test_admins_define_custom_fields_and_see_the_rules_refusals_next_to_the_field(client, stages):
    from pipeline.models import CustomField

    response = client.post(url("customfield_add"), {
        "record_kind": "deal", "key": "tier", "name": "Tier", "name_translations": "{}", "field_type": "choice",
        "choices": "Gold\nSilver", "currency": "", "help_text": "", "position": "0", "is_active": "on",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    field = CustomField.objects.get(key="tier")
    assert field.choices == ["Gold", "Silver"]
    refused = client.post(url("customfield_add"), {
        "record_kind": "deal", "key": "Bad Key", "name": "Bad", "name_translations": "{}", "field_type": "text",
        "choices": "", "currency": "", "help_text": "", "position": "0",
    })
    assert refused.status_code == 200 and "key" in refused.context["adminform"].form.errors
    assert client.get(url("customfield_change", field.pk)).status_code == 200
    transition = Transition.objects.get(from_stage=None, to_stage=stages["Negotiation"])
    data = form_data(client.get(url("transition_change", transition.pk)))
    data["requires_fields"] = ["tier"]
    assert client.post(url("transition_change", transition.pk), data).status_code == 302
    transition.refresh_from_db()
    assert transition.requires_fields == ["tier"]
    # The field an entry rule needs cannot be deleted.
    client.post(url("customfield_delete", field.pk), {"post": "yes"})
    assert CustomField.objects.filter(pk=field.pk).exists()
