"""Offer pages: who sees what, the customer's page, the PDF and the rate limit."""
import pytest
from django.urls import reverse

from offers import services
from offers.models import OfferResponse, VersionStatus
from pipeline.models import DealStatus, StageChange
from tests.factories import TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def stranger(db):
    return UserFactory(username="otto", role="rep", team=TeamFactory(name="South"))


@pytest.fixture
def teammate(rep):
    return UserFactory(username="tina", role="rep", team=rep.team)


STAFF_GETS = ["offers:version_detail", "offers:print", "offers:pdf"]
STAFF_POSTS = ["offers:version_texts", "offers:package_add", "offers:line_add", "offers:request_approval",
               "offers:approve", "offers:send", "offers:resend", "offers:withdraw", "offers:revise"]


def test_rep_of_another_team_gets_404_everywhere(client, stranger, draft):
    client.force_login(stranger)
    for name in STAFF_GETS:
        assert client.get(reverse(name, args=[draft.pk])).status_code == 404, name
    for name in STAFF_POSTS:
        assert client.post(reverse(name, args=[draft.pk]), {"name": "x"}).status_code == 404, name
    line = draft.lines.first()
    assert client.post(reverse("offers:line_update", args=[line.pk]), {}).status_code == 404
    assert client.post(reverse("offers:line_delete", args=[line.pk])).status_code == 404
    assert client.post(reverse("offers:create", args=[draft.offer.deal_id])).status_code == 404
    assert client.get(reverse("offers:deal_offers", args=[draft.offer.deal_id])).status_code == 404
    assert draft.offer.title not in client.get(reverse("offers:list")).content.decode()
    assert draft.lines.count() == 2


def test_teammate_sees_but_cannot_change(client, teammate, draft):
    client.force_login(teammate)
    page = client.get(reverse("offers:version_detail", args=[draft.pk]))
    assert page.status_code == 200 and b"Send to customer" not in page.content
    assert client.post(reverse("offers:send", args=[draft.pk])).status_code == 403
    assert client.post(reverse("offers:line_delete", args=[draft.lines.first().pk])).status_code == 403
    draft.refresh_from_db()
    assert draft.status == VersionStatus.DRAFT


def test_owner_builds_and_sends_an_offer(client, rep, offer_deal, licence):
    client.force_login(rep)
    response = client.post(reverse("offers:create", args=[offer_deal.pk]), {"title": "Rollout"})
    version = offer_deal.offers.get().versions.get()
    assert response.url == version.get_absolute_url()
    client.post(reverse("offers:line_add", args=[version.pk]), {"product": licence.pk, "quantity": "4", "discount_percent": "5"})
    client.post(reverse("offers:line_add", args=[version.pk]), {"description": "Workshop", "quantity": "1", "unit_price": "800", "tax_rate": "19"})
    client.post(reverse("offers:version_texts", args=[version.pk]), {
        "language": "en", "valid_until": "2099-12-31", "situation": "Spreadsheets everywhere.", "benefit": "One pipeline."})
    page = client.get(version.get_absolute_url())
    assert b"Workshop" in page.content and b"One pipeline." in page.content
    response = client.post(reverse("offers:send", args=[version.pk]), follow=True)
    version.refresh_from_db()
    assert version.status == VersionStatus.SENT
    assert b"/p/" in response.content  # the link, shown once to the sender
    page = response.content.decode()
    assert page.count("/p/") == 1  # in the link field with its copy button, not again in a toast
    assert 'data-sf-copy="#offer-link"' in page


def test_version_page_query_count(client, rep, draft, django_assert_max_num_queries):
    client.force_login(rep)
    with django_assert_max_num_queries(30):
        assert client.get(reverse("offers:version_detail", args=[draft.pk])).status_code == 200


def test_deal_offers_partial_lists_versions_and_the_answer(client, rep, sent, django_assert_max_num_queries):
    version, token = sent
    services.offer_accept(token=token, name="Jane Doe", document_hash=version.document_hash)
    client.force_login(rep)
    with django_assert_max_num_queries(12):
        html = client.get(reverse("offers:deal_offers", args=[version.offer.deal_id])).content.decode()
    assert "Jane Doe" in html and "Version 1" in html and f'title="{version.document_hash}"' in html


def test_pdf_and_printable_page(client, rep, draft):
    client.force_login(rep)
    pdf = client.get(reverse("offers:pdf", args=[draft.pk]))
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    page = client.get(reverse("offers:print", args=[draft.pk])).content.decode()
    # A German lead's offer is written in German, with German number formats.
    assert "Summe netto" in page and "Gesamtbetrag" in page and "Einzelpreis" in page
    assert "509,07\u00a0€" in page  # 449,10 + 59,97


def test_pdf_is_in_the_offers_language(client, rep, draft):
    from offers.documents import proposal_load
    from offers.pdf import proposal_pdf

    draft.language = "en"
    draft.save()
    english = proposal_pdf(proposal_load(draft))
    draft.language = "de"
    draft.save()
    german = proposal_pdf(proposal_load(draft))
    assert english.startswith(b"%PDF") and german.startswith(b"%PDF") and english != german


# --- The customer's page ---------------------------------------------------------------------


def test_customer_page_needs_no_account_and_shows_nothing_else(client, sent):
    version, token = sent
    page = client.get(f"/p/{token}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "CRM for Acme" in html and "Stageflow licence" in html
    for crm in ("/pipeline/", "/offers/", "/admin/", "Negotiation", version.offer.deal.owner.username, "Sign out"):
        assert crm not in html, crm
    assert page["Cache-Control"].startswith("no-store") and page["Referrer-Policy"] == "same-origin"
    assert version.events.filter(kind="viewed").count() == 1
    client.get(f"/p/{token}/")
    assert version.notifications.filter(kind="viewed", recipient=version.offer.deal.owner).count() == 1
    assert client.get(f"/p/{token}/pdf/").content.startswith(b"%PDF")


def test_wrong_token_shows_nothing(client, sent):
    _version, token = sent
    page = client.get(f"/p/{token[:-2]}xy/")
    assert page.status_code == 410 and b"CRM for Acme" not in page.content


def test_customer_accepts_through_the_form(client, sent, offer_deal):
    version, token = sent
    response = client.post(f"/p/{token}/accept/", {
        "name": "Jane Doe", "document_hash": version.document_hash, "confirm": "on",
    }, HTTP_USER_AGENT="Browser/1.0", REMOTE_ADDR="198.51.100.7")
    assert response.status_code == 200
    answer = OfferResponse.objects.get()
    assert (answer.ip_address, answer.user_agent) == ("198.51.100.7", "Browser/1.0")
    offer_deal.refresh_from_db()
    assert offer_deal.status == DealStatus.WON
    # The same form posted again changes nothing; the link now only says it was answered.
    again = client.post(f"/p/{token}/accept/", {"name": "Jane Doe", "document_hash": version.document_hash, "confirm": "on"})
    assert again.status_code == 200
    assert StageChange.objects.filter(deal=offer_deal, to_status=DealStatus.WON).count() == 1
    page = client.get(f"/p/{token}/")
    assert page.status_code == 410 and b"Stageflow licence" not in page.content


def test_stale_document_is_refused_on_the_page(client, sent):
    version, token = sent
    version.lines.update(discount_percent=0)
    response = client.post(f"/p/{token}/accept/", {"name": "Jane Doe", "document_hash": version.document_hash, "confirm": "on"})
    assert response.status_code == 409 and not OfferResponse.objects.exists()


def test_customer_declines(client, sent, offer_deal):
    _version, token = sent
    assert client.post(f"/p/{token}/decline/", {"reason": ""}).status_code == 400
    assert client.post(f"/p/{token}/decline/", {"reason": "No budget this year"}).status_code == 200
    offer_deal.refresh_from_db()
    assert offer_deal.status == DealStatus.OPEN and OfferResponse.objects.get().reason == "No budget this year"


def test_public_link_is_rate_limited_per_token_and_per_ip(client, sent, settings):
    settings.STAGEFLOW = {**settings.STAGEFLOW, "OFFER_RATE_LIMIT_PER_TOKEN": 3, "OFFER_RATE_LIMIT_PER_IP": 5}
    _version, token = sent
    codes = [client.get(f"/p/{token}/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    # Guessing other tokens from the same address runs into the per-address limit.
    guesses = [client.get(f"/p/guess{i}/").status_code for i in range(3)]
    assert guesses[-1] == 429
    assert client.get("/p/other/", REMOTE_ADDR="192.0.2.1").status_code == 410


def test_customer_page_query_count(client, sent, django_assert_max_num_queries):
    _version, token = sent
    client.get(f"/p/{token}/")  # the first visit also records "viewed"
    with django_assert_max_num_queries(8):
        assert client.get(f"/p/{token}/").status_code == 200


def test_admin_manages_products(client, admin_user, licence):
    client.force_login(admin_user)
    assert client.get(reverse("admin:offers_product_changelist")).status_code == 200
    assert client.get(reverse("admin:offers_pricelist_add")).status_code == 200
    assert client.get(reverse("admin:offers_offer_changelist")).status_code == 200


def test_deal_page_tag_renders_the_offers_section_for_who_may_see_it(rf, rep, sent):
    from django.template import Context, Template

    version, _token = sent
    template = Template("{% load offers_tags %}{% deal_offers_section deal %}")
    request = rf.get("/")
    request.user = rep
    html = template.render(Context({"request": request, "deal": version.offer.deal}))
    assert version.offer.number in html and 'id="new-offer"' in html
    request.user = UserFactory(username="nosy", role="rep", team=TeamFactory(name="West"))
    html = template.render(Context({"request": request, "deal": version.offer.deal}))
    assert version.offer.number not in html and 'id="new-offer"' not in html


def test_admin_refuses_a_product_or_price_list_in_an_unknown_currency(client, admin_user):
    from offers.models import PriceList, Product

    client.force_login(admin_user)
    product = {"name": "Widget", "sku": "", "unit": "piece", "list_price": "10.00", "currency": "BTC",
               "tax_rate": "19", "is_active": "on", "description": ""}
    response = client.post(reverse("admin:offers_product_add"), product)
    assert response.status_code == 200 and "EUR, USD, GBP, CHF" in response.content.decode()
    assert not Product.objects.filter(name="Widget").exists()
    client.post(reverse("admin:offers_product_add"), {**product, "currency": "usd"})
    assert Product.objects.get(name="Widget").currency == "USD"
    response = client.post(reverse("admin:offers_pricelist_add"), {
        "name": "Crypto", "currency": "ZZZ", "is_active": "on",
        "items-TOTAL_FORMS": "0", "items-INITIAL_FORMS": "0", "items-MIN_NUM_FORMS": "0", "items-MAX_NUM_FORMS": "1000",
    })
    assert "EUR, USD, GBP, CHF" in response.content.decode() and not PriceList.objects.filter(name="Crypto").exists()
