"""Offer PDFs with long texts: the text flows over pages, and the texts have limits with a clear message."""
import re

import pytest
from django.urls import reverse

from offers import services
from offers.documents import proposal_load
from offers.exceptions import OfferError
from offers.models import OfferPackage, OfferVersion
from offers.pdf import proposal_pdf

pytestmark = pytest.mark.django_db


def pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type /Page\b(?!s)", pdf))


def test_line_description_with_hundreds_of_line_breaks_flows_over_pages(draft):
    draft.lines.filter(description="Stageflow licence").update(description="Seat\n" * 59 + "\n" * 240 + "end")
    pdf = proposal_pdf(proposal_load(draft))
    assert pdf.startswith(b"%PDF") and pages(pdf) >= 2


def test_long_situation_already_stored_flows_over_pages(draft):
    # Stored before the limit existed: the PDF still renders it, quickly, over many pages.
    words = "Our sales team loses track of follow-ups across spreadsheets. "
    OfferVersion.objects.filter(pk=draft.pk).update(situation=words * (200_000 // len(words)))
    pdf = proposal_pdf(proposal_load(draft))
    assert pages(pdf) > 20


def test_text_without_spaces_or_breaks_does_not_fail_the_pdf(draft):
    OfferVersion.objects.filter(pk=draft.pk).update(benefit="x" * 50_000, terms="\n" * 5_000)
    assert proposal_pdf(proposal_load(draft)).startswith(b"%PDF")


def test_package_description_with_many_line_breaks_flows_over_pages(draft, rep):
    package = services.package_add(version=draft, actor=rep, name="Basic")
    OfferPackage.objects.filter(pk=package.pk).update(description="Included:\n" * 400)
    draft.lines.update(package=package)
    assert pages(proposal_pdf(proposal_load(draft))) >= 2


def test_customer_pdf_with_long_texts_answers(client, sent):
    version, token = sent
    OfferVersion.objects.filter(pk=version.pk).update(situation="Growth. " * 25_000)
    response = client.get(f"/p/{token}/pdf/")
    assert response.status_code == 200 and response.content.startswith(b"%PDF")


def test_version_texts_longer_than_the_limit_are_refused_by_the_service(draft, rep):
    limit = OfferVersion._meta.get_field("situation").max_length
    with pytest.raises(OfferError) as refused:
        services.version_update(version=draft, actor=rep, situation="a" * (limit + 1))
    assert str(limit) in str(refused.value.message).replace(",", "").replace(".", "")
    draft.refresh_from_db()
    assert draft.situation == ""
    services.version_update(version=draft, actor=rep, situation="a" * limit)


def test_version_texts_longer_than_the_limit_are_refused_in_the_form_with_a_message(client, rep, draft):
    client.force_login(rep)
    limit = OfferVersion._meta.get_field("situation").max_length
    response = client.post(reverse("offers:version_texts", args=[draft.pk]), {
        "language": "en", "situation": "a" * (limit + 1), "benefit": "", "terms": "",
    }, follow=True)
    assert "at most" in response.content.decode()
    draft.refresh_from_db()
    assert draft.situation == ""


def test_package_description_longer_than_the_limit_is_refused(draft, rep):
    limit = OfferPackage._meta.get_field("description").max_length
    with pytest.raises(OfferError):
        services.package_add(version=draft, actor=rep, name="Basic", description="a" * (limit + 1))
