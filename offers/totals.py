"""Offer arithmetic, in Decimal, with the rounding a German or English invoice uses.

- A line's net amount is quantity × unit price × (1 − discount %), rounded half-up to the cent.
- Tax is computed once per tax rate on the sum of that rate's line nets (not per line), rounded
  half-up to the cent, so mixed rates (19 % and 7 %, say) each round once.
- Gross = net + tax. With packages, a package's total covers the lines common to every package
  plus its own lines.

These are the lines of one offer (a handful), so a loop in Python is the right tool here; deal
totals across the pipeline stay in the database.
"""
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
HUNDRED = Decimal("100")


def money(value: Decimal) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def line_list_amount(quantity: Decimal, unit_price: Decimal) -> Decimal:
    return money(Decimal(quantity) * Decimal(unit_price))


def line_net(quantity: Decimal, unit_price: Decimal, discount_percent: Decimal = Decimal("0")) -> Decimal:
    factor = (HUNDRED - Decimal(discount_percent)) / HUNDRED
    return money(Decimal(quantity) * Decimal(unit_price) * factor)


@dataclass(frozen=True)
class TaxGroup:
    rate: Decimal
    net: Decimal
    tax: Decimal


@dataclass
class Totals:
    list_amount: Decimal = Decimal("0.00")
    net: Decimal = Decimal("0.00")
    tax: Decimal = Decimal("0.00")
    gross: Decimal = Decimal("0.00")
    tax_groups: list[TaxGroup] = field(default_factory=list)

    @property
    def discount(self) -> Decimal:
        return self.list_amount - self.net


def totals_for(lines: Iterable) -> Totals:
    """Totals of lines having quantity, unit_price, discount_percent and tax_rate."""
    net_by_rate: dict[Decimal, Decimal] = {}
    list_amount = Decimal("0.00")
    for line in lines:
        rate = Decimal(line.tax_rate).quantize(CENT)
        net_by_rate[rate] = net_by_rate.get(rate, Decimal("0.00")) + line_net(
            line.quantity, line.unit_price, line.discount_percent
        )
        list_amount += line_list_amount(line.quantity, line.unit_price)
    groups = [
        TaxGroup(rate=rate, net=net, tax=money(net * rate / HUNDRED)) for rate, net in sorted(net_by_rate.items())
    ]
    net = sum((g.net for g in groups), Decimal("0.00"))
    tax = sum((g.tax for g in groups), Decimal("0.00"))
    return Totals(list_amount=list_amount, net=net, tax=tax, gross=net + tax, tax_groups=groups)


def max_discount(lines: Iterable) -> Decimal:
    return max((Decimal(line.discount_percent) for line in lines), default=Decimal("0"))
