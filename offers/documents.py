"""The proposal document: one structure read from the database, rendered three ways.

`proposal_load` gathers a version's packages, lines and totals (three queries). The HTML page,
the PDF (`offers.pdf`) and the canonical rendering all use it, so the customer signs exactly
what the PDF and the page show. The canonical rendering is a JSON text with sorted keys and
amounts as strings; its SHA-256 identifies the document a customer accepted.
"""
import hashlib
import json
from dataclasses import dataclass, field

from django.conf import settings

from pipeline.models import Deal
from pipeline.selectors import deal_addressee

from .models import Offer, OfferLine, OfferPackage, OfferVersion
from .totals import Totals, line_list_amount, line_net, totals_for


@dataclass
class LineView:
    line: OfferLine
    net: object
    list_amount: object

    @property
    def has_discount(self) -> bool:
        return self.line.discount_percent > 0


@dataclass
class PackageView:
    package: OfferPackage
    lines: list[LineView]
    totals: Totals


@dataclass
class Proposal:
    version: OfferVersion
    common_lines: list[LineView]
    packages: list[PackageView] = field(default_factory=list)
    totals: Totals | None = None  # without packages; with packages each package has its own

    @property
    def offer(self):
        return self.version.offer

    @property
    def deal(self):
        return self.version.offer.deal

    @property
    def organization(self):
        return self.version.offer.deal.organization

    @property
    def is_frozen(self) -> bool:
        return bool(self.version.sent_at)

    @property
    def title(self) -> str:
        return self.version.sent_title if self.is_frozen else self.offer.title

    @property
    def customer(self) -> str:
        return self.version.sent_customer if self.is_frozen else self.organization.name

    @property
    def contact(self) -> str:
        if self.is_frozen:
            return self.version.sent_contact
        addressee = deal_addressee(self.version.offer.deal)
        return addressee.name if addressee else ""

    @property
    def company_name(self) -> str:
        if self.is_frozen:
            return self.version.sent_seller
        return settings.STAGEFLOW.get("COMPANY_NAME", "")

    @property
    def company_logo(self) -> str:
        return settings.STAGEFLOW.get("COMPANY_LOGO", "")

    @property
    def has_packages(self) -> bool:
        return bool(self.packages)

    @property
    def recommended(self) -> PackageView | None:
        for view in self.packages:
            if view.package.is_recommended:
                return view
        return self.packages[0] if self.packages else None

    def package_view(self, package_id) -> PackageView | None:
        for view in self.packages:
            if view.package.pk == package_id:
                return view
        return None

    def totals_for(self, package_id=None) -> Totals:
        """The totals the customer pays: the chosen package's, or the recommended one's."""
        if not self.packages:
            return self.totals
        view = self.package_view(package_id) if package_id else self.recommended
        return (view or self.recommended).totals

    @property
    def acceptance(self):
        """The customer's acceptance of this version, if any (shown as a stamp)."""
        if self.version.status not in ("accepted", "superseded"):
            return None
        response = getattr(self.version, "response", None) if hasattr(self.version, "response") else None
        return response if response is not None and response.kind == "accepted" else None

    @property
    def lines_count(self) -> int:
        return len(self.common_lines) + sum(len(p.lines) for p in self.packages)


def _line_view(line: OfferLine) -> LineView:
    return LineView(
        line=line,
        net=line_net(line.quantity, line.unit_price, line.discount_percent),
        list_amount=line_list_amount(line.quantity, line.unit_price),
    )


def proposal_load(version: OfferVersion) -> Proposal:
    version = (
        OfferVersion.objects.select_related("offer__deal__organization", "offer__deal__owner")
        .get(pk=version.pk)
        if not _has_related(version)
        else version
    )
    packages = list(version.packages.all())
    lines = list(version.lines.all())
    common = [_line_view(line) for line in lines if line.package_id is None]
    proposal = Proposal(version=version, common_lines=common)
    if packages:
        for package in packages:
            own = [line for line in lines if line.package_id == package.pk]
            common_lines = [line for line in lines if line.package_id is None]
            proposal.packages.append(
                PackageView(package=package, lines=[_line_view(x) for x in own], totals=totals_for(common_lines + own))
            )
    else:
        proposal.totals = totals_for(lines)
    return proposal


def _has_related(version: OfferVersion) -> bool:
    """True when the version came with its offer, deal and lead (select_related)."""
    if not OfferVersion._meta.get_field("offer").is_cached(version):
        return False
    offer = version.offer
    return Offer._meta.get_field("deal").is_cached(offer) and Deal._meta.get_field("organization").is_cached(offer.deal)


def _line_data(view: LineView) -> dict:
    line = view.line
    return {
        "description": line.description,
        "quantity": str(line.quantity),
        "unit": line.unit,
        "unit_price": str(line.unit_price),
        "discount_percent": str(line.discount_percent),
        "tax_rate": str(line.tax_rate),
        "net": str(view.net),
    }


def _totals_data(totals: Totals) -> dict:
    return {
        "net": str(totals.net),
        "tax": str(totals.tax),
        "gross": str(totals.gross),
        "tax_groups": [{"rate": str(g.rate), "net": str(g.net), "tax": str(g.tax)} for g in totals.tax_groups],
    }


def proposal_canonical(proposal: Proposal) -> str:
    """Everything the customer agrees to, in a stable order, independent of the page's layout."""
    version = proposal.version
    data = {
        "offer": proposal.offer.number,
        "version": version.number,
        "title": proposal.title,
        "seller": proposal.company_name,
        "customer": {"company": proposal.customer, "contact": proposal.contact},
        "language": version.language,
        "currency": version.currency,
        "valid_until": version.valid_until.isoformat() if version.valid_until else None,
        "situation": version.situation,
        "benefit": version.benefit,
        "terms": version.terms,
        "lines": [_line_data(v) for v in proposal.common_lines],
        "packages": [
            {
                "id": p.package.pk,
                "name": p.package.name,
                "description": p.package.description,
                "recommended": p.package.is_recommended,
                "lines": [_line_data(v) for v in p.lines],
                "totals": _totals_data(p.totals),
            }
            for p in proposal.packages
        ],
        "totals": _totals_data(proposal.totals) if proposal.totals else None,
    }
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def document_hash(version: OfferVersion) -> str:
    return sha256_text(proposal_canonical(proposal_load(version)))
