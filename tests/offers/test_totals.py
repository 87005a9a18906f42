"""Offer arithmetic, checked by hand. Lines round half-up to the cent; tax rounds once per rate."""
from dataclasses import dataclass
from decimal import Decimal as D

import pytest

from offers import services
from offers.documents import proposal_load
from offers.totals import line_net, totals_for


@dataclass
class L:
    quantity: D
    unit_price: D
    discount_percent: D = D("0")
    tax_rate: D = D("19")


def test_line_net_rounds_half_up_not_to_even():
    # 0.25 at 50 % is 0.125: half-up gives 0.13 (banker's rounding would give 0.12).
    assert line_net(D("1"), D("0.25"), D("50")) == D("0.13")
    # 2.5 × 12.34 = 30.85, less 12.5 % = 26.99375 → 26.99
    assert line_net(D("2.5"), D("12.34"), D("12.5")) == D("26.99")
    assert line_net(D("3"), D("10.00"), D("100")) == D("0.00")


def test_mixed_tax_rates_with_discounts():
    lines = [
        L(D("3"), D("33.33"), D("10")),            # 99.99 − 10 % = 89.991 → 89.99 at 19 %
        L(D("1"), D("19.99"), D("0"), D("7")),    # 19.99 at 7 %
        L(D("2.5"), D("12.34"), D("12.5")),       # 26.99 at 19 %
    ]
    totals = totals_for(lines)
    assert [(g.rate, g.net, g.tax) for g in totals.tax_groups] == [
        (D("7.00"), D("19.99"), D("1.40")),        # 1.3993 → 1.40
        (D("19.00"), D("116.98"), D("22.23")),     # 22.2262 → 22.23
    ]
    assert totals.net == D("136.97")
    assert totals.tax == D("23.63")
    assert totals.gross == D("160.60")
    assert totals.list_amount == D("150.83")       # 99.99 + 19.99 + 30.85
    assert totals.discount == D("13.86")


def test_tax_is_rounded_per_rate_group_not_per_line():
    # Per line: 1.05 × 7 % = 0.0735 → 0.07, twice = 0.14. Per group: 2.10 × 7 % = 0.147 → 0.15.
    totals = totals_for([L(D("1"), D("1.05"), tax_rate=D("7")), L(D("1"), D("1.05"), tax_rate=D("7"))])
    assert totals.tax == D("0.15")
    assert totals.gross == D("2.25")


def test_no_lines_total_zero():
    totals = totals_for([])
    assert (totals.net, totals.tax, totals.gross, totals.tax_groups) == (D("0"), D("0"), D("0"), [])


@pytest.mark.django_db
def test_package_totals_include_the_common_lines(offer_deal, rep, licence, book):
    version = services.offer_create(deal=offer_deal, actor=rep)
    basic = services.package_add(version=version, actor=rep, name="Basic")
    premium = services.package_add(version=version, actor=rep, name="Premium", is_recommended=True)
    services.line_add(version=version, actor=rep, product=book, quantity="2")                       # 39.98 at 7 %, both
    services.line_add(version=version, actor=rep, product=licence, quantity="5", package=basic)    # 249.50 at 19 %
    services.line_add(version=version, actor=rep, product=licence, quantity="20", discount_percent="15",
                      package=premium)                                                              # 998 − 15 % = 848.30
    proposal = proposal_load(version)
    basic_totals = proposal.package_view(basic.pk).totals
    premium_totals = proposal.package_view(premium.pk).totals
    assert (basic_totals.net, basic_totals.tax, basic_totals.gross) == (D("289.48"), D("50.21"), D("339.69"))
    # 7 %: 39.98 → 2.7986 → 2.80; 19 %: 848.30 → 161.177 → 161.18
    assert (premium_totals.net, premium_totals.tax, premium_totals.gross) == (D("888.28"), D("163.98"), D("1052.26"))
    assert proposal.recommended.package == premium
    assert proposal.totals_for() is premium_totals
