"""pipeline.configuration: the one writer of pipelines, stages, transitions and lost reasons."""
import pytest
from django.db import transaction

from accounts.models import ConfigChange
from pipeline import configuration
from pipeline.configuration import ConfigurationRefused
from pipeline.models import LostReason, Pipeline, Stage, Transition
from tests.factories import DealFactory

pytestmark = pytest.mark.django_db


def test_each_write_records_its_audit_row_in_its_own_transaction(admin_user, pipeline):
    with pytest.raises(RuntimeError), transaction.atomic():
        configuration.stage_create(pipeline=pipeline, actor=admin_user, name="Contract", position=9)
        assert ConfigChange.objects.filter(action="create").count() == 1
        raise RuntimeError("the caller's transaction rolls back")
    assert not Stage.objects.filter(name="Contract").exists() and not ConfigChange.objects.exists()


def test_an_update_that_changes_nothing_writes_nothing(admin_user, stages):
    stage = stages["Offer"]
    configuration.stage_update(stage=stage, actor=admin_user, probability=stage.probability, name=stage.name)
    assert not ConfigChange.objects.exists()


def test_a_stage_holding_deals_keeps_its_kind(admin_user, rep, stages):
    DealFactory(owner=rep, stage=stages["Negotiation"])
    with pytest.raises(ConfigurationRefused) as refused:
        configuration.stage_update(stage=stages["Negotiation"], actor=admin_user, kind="won")
    assert refused.value.code == "stage_has_deals" and refused.value.field == "kind"
    assert Stage.objects.get(pk=stages["Negotiation"].pk).kind == "open"


def test_a_stage_never_changes_pipeline(admin_user, stages):
    other = Pipeline.objects.create(name="Upsell")
    with pytest.raises(ConfigurationRefused) as refused:
        configuration.stage_update(stage=stages["Offer"], actor=admin_user, pipeline=other)
    assert refused.value.field == "pipeline"


def test_deleting_an_unused_stage_deletes_and_audits_its_transitions(admin_user):
    pipeline = configuration.pipeline_create(actor=admin_user, name="Upsell")
    first = configuration.stage_create(pipeline=pipeline, actor=admin_user, name="Talk")
    last = configuration.stage_create(pipeline=pipeline, actor=admin_user, name="Sign", kind="won", position=1)
    transition = configuration.transition_create(
        pipeline=pipeline, actor=admin_user, from_stage=first, to_stage=last, requires_amount=True
    )
    configuration.stage_delete(stage=last, actor=admin_user)
    assert not Transition.objects.filter(pk=transition.pk).exists()
    deleted = ConfigChange.objects.filter(action="delete").order_by("pk")
    assert [(d.content_type.model, d.object_id) for d in deleted] == [
        ("transition", str(transition.pk)), ("stage", str(last.pk)),
    ]


def test_a_transition_stays_inside_its_pipeline_and_leads_elsewhere(admin_user, pipeline, stages):
    other = Pipeline.objects.create(name="Upsell")
    foreign = Stage.objects.create(pipeline=other, name="Idea")
    with pytest.raises(ConfigurationRefused) as refused:
        configuration.transition_create(pipeline=pipeline, actor=admin_user, from_stage=foreign, to_stage=stages["Offer"])
    assert refused.value.code == "wrong_pipeline" and refused.value.field == "from_stage"
    with pytest.raises(ConfigurationRefused) as refused:
        configuration.transition_create(
            pipeline=pipeline, actor=admin_user, from_stage=stages["Offer"], to_stage=stages["Offer"]
        )
    assert refused.value.code == "same_stage"


def test_a_used_lost_reason_is_refused_and_an_unused_one_deleted(admin_user, rep, deal):
    from pipeline import services

    used = LostReason.objects.first()
    services.deal_mark_lost(deal=deal, reason=used, actor=rep)
    with pytest.raises(ConfigurationRefused) as refused:
        configuration.lost_reason_delete(reason=used, actor=admin_user)
    assert refused.value.code == "reason_in_use"
    unused = configuration.lost_reason_create(actor=admin_user, name="Never used")
    configuration.lost_reason_delete(reason=unused, actor=admin_user)
    assert not LostReason.objects.filter(pk=unused.pk).exists()
    assert ConfigChange.objects.filter(object_id=str(unused.pk), action="delete").exists()


def test_one_pipeline_is_the_default_and_taking_the_flag_is_audited(admin_user, pipeline):
    upsell = configuration.pipeline_create(actor=admin_user, name="Upsell")
    configuration.pipeline_update(pipeline=upsell, actor=admin_user, is_default=True)
    assert list(Pipeline.objects.filter(is_default=True)) == [upsell]
    assert ConfigChange.objects.get(object_id=str(pipeline.pk), content_type__model="pipeline").changes == {
        "is_default": ["True", "False"]
    }
