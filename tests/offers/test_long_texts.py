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
    description = "Seat" + "\n" * 293 + "end"  # the field's 300 characters, nearly all line breaks
    draft.lines.filter(description="Stageflow licence").update(description=description)
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


def test_a_long_text_is_drawn_as_short_paragraphs_so_page_breaks_stay_cheap():
    # Reportlab re-measures a whole paragraph at each page break: a 195,000-character situation of
    # 15,000 lines in one paragraph took 265 s here (the customer saw a 500 after 30 s), 1.9 s cut.
    from reportlab.lib.styles import getSampleStyleSheet

    from offers.pdf import BLOCK_CHARS, BLOCK_LINES, _paras

    text = "line of text\n" * 15_000 + "word " * 40_000
    paragraphs = _paras(text, getSampleStyleSheet()["BodyText"])
    assert len(paragraphs) > 500
    for paragraph in paragraphs:
        assert paragraph.text.count("<br/>") < BLOCK_LINES and len(paragraph.text) <= BLOCK_CHARS + 2_100
    # Nothing is lost: the lines come back in order.
    joined = "<br/>".join(p.text for p in paragraphs)
    assert joined.count("line of text") == 15_000 and joined.count("word") == 40_000


def test_a_many_line_situation_flows_over_pages(draft):
    OfferVersion.objects.filter(pk=draft.pk).update(situation="line of text\n" * 2_000)
    assert pages(proposal_pdf(proposal_load(draft))) > 20
