"""Completing a won deal's onboarding checklist, and finishing an activity, in a real browser."""
import os
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from activities import services
from activities.models import OnboardingItem, OnboardingTask
from pipeline.models import Deal, DealStatus
from tests.factories import DealFactory, UserFactory, default_pipeline

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

SHOTS = os.environ.get("STAGEFLOW_SHOTS_DIR")  # set to keep screenshots of the pages


def shot(page, name):
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


@pytest.fixture
def rep(db):
    return UserFactory(username="rita", first_name="Rita", last_name="Roth", role="rep")


def test_complete_an_onboarding_checklist(page, sign_in, rep):
    pipeline = default_pipeline()
    stages = {s.name: s for s in pipeline.stages.all()}
    for i, title in enumerate(["Kick-off call", "Accounts created", "Training held"]):
        OnboardingItem.objects.create(pipeline=pipeline, title=title, position=i)
    deal = DealFactory(
        owner=rep, stage=stages["Retention"], status=DealStatus.WON, closed_at=timezone.now(), title="Rollout Nord"
    )
    services.onboarding_checklist_ensure(deal=deal)
    sign_in(rep)

    card = page.locator(f"#deal-{deal.pk}")
    expect(card.locator(".sf-card-onboarding")).to_contain_text("Onboarding 0/3")
    shot(page, "board-won")

    page.goto(deal.get_absolute_url())
    panel = page.locator("#onboarding")
    expect(panel.locator("[data-onboarding-progress]")).to_have_text("0/3")
    shot(page, "deal-onboarding")
    for done, title in enumerate(["Kick-off call", "Accounts created", "Training held"], start=1):
        with page.expect_response(lambda r: "/activities/onboarding/" in r.url) as answer:
            page.locator(f"#onboarding button[data-task='{title}']").click()
        assert answer.value.status == 200
        expect(page.locator("#onboarding [data-onboarding-progress]")).to_have_text(f"{done}/3")
        expect(page.locator(f"#onboarding button[data-task='{title}']")).to_have_attribute("aria-checked", "true")
    expect(page.locator("#onboarding")).to_contain_text("Onboarding complete")
    shot(page, "deal-onboarding-complete")
    assert OnboardingTask.objects.filter(deal=deal, done_at__isnull=True).count() == 0
    assert Deal.objects.get(pk=deal.pk).retention_done_at is not None

    page.goto("/pipeline/")
    expect(page.locator(f"#cards-{stages['Retention'].pk}")).to_be_visible()
    expect(page.locator(f"#deal-{deal.pk}")).to_have_count(0)


def test_mark_an_activity_done_with_one_click(page, sign_in, rep):
    stages = {s.name: s for s in default_pipeline().stages.all()}
    deal = DealFactory(owner=rep, stage=stages["Qualification"], title="Call me")
    activity = services.activity_create(
        actor=rep, deal=deal, kind="call", title="Ring the buyer", due_at=timezone.now() - timedelta(hours=2)
    )
    sign_in(rep)
    card = page.locator(f"#deal-{deal.pk}")
    expect(card.locator(".sf-card-activity.is-overdue")).to_contain_text("Ring the buyer")
    expect(card.locator(".sf-card-activity")).to_contain_text("overdue")
    shot(page, "board-activity")

    page.get_by_role("link", name="My activities").click()
    row = page.locator(f"#activity-{activity.pk}")
    expect(row).to_have_class("sf-activity is-overdue")
    shot(page, "my-activities")
    with page.expect_response(lambda r: r.url.endswith(f"/activities/{activity.pk}/done/")):
        row.get_by_role("button", name="Mark “Ring the buyer” done").click()
    expect(page.locator(f"#activity-{activity.pk}")).to_have_class("sf-activity is-done")
    expect(page.locator("#sf-toasts")).to_contain_text("“Ring the buyer” done.")
    activity.refresh_from_db()
    assert activity.done_by == rep
