"""Demo products and offers on the demo deals: `python manage.py seed_offers [--deals N]`.

Creates the demo products that are missing, then a sent offer (with packages on every
other deal) for open deals in the offer and negotiation stages that have none yet. Nothing is
accepted, so the demo's stage history stays as seed_demo wrote it.
"""
from decimal import Decimal

from django.core.management.base import BaseCommand
from django.db import transaction
from django.test.utils import override_settings

from offers import services
from offers.models import Offer, Product
from pipeline.models import Deal, DealStatus

PRODUCTS = [
    # name, unit, price, tax rate
    ("Team licence (per user and year)", "licence", "480.00", "19"),
    ("Onboarding workshop", "day", "1200.00", "19"),
    ("Data migration from spreadsheets", "flat", "950.00", "19"),
    ("Priority support (per year)", "year", "1800.00", "19"),
    ("Sales playbook, printed", "piece", "29.90", "7"),
]


class Command(BaseCommand):
    help = "Create demo products and sent offers on open demo deals in the offer and negotiation stages."

    def add_arguments(self, parser):
        parser.add_argument("--deals", type=int, default=12, help="at most this many deals get an offer")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")
        parser.add_argument("--if-empty", action="store_true", help="do nothing when any offer exists")

    def handle(self, *args, deals: int, base_url: str, if_empty: bool = False, **options):
        if if_empty and Offer.objects.exists():
            self.stdout.write("There are offers already; no demo offers created.")
            return
        licence, workshop, migration, support, book = (
            Product.objects.get_or_create(
                name=name, defaults={"unit": unit, "list_price": Decimal(price), "tax_rate": Decimal(tax)}
            )[0]
            for name, unit, price, tax in PRODUCTS
        )
        candidates = (
            # The offer and negotiation stages of the default process (names depend on the language).
            Deal.objects.filter(status=DealStatus.OPEN, stage__kind="open", stage__probability__gte=60, offers__isnull=True,
                                currency=licence.currency)  # the demo prices are in one currency
            .select_related("organization", "owner")
            .order_by("pk")[:deals]
        )
        created = 0
        # The demo's customers are made up: their e-mails stay in memory instead of the console.
        with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
            for index, deal in enumerate(candidates):
                with transaction.atomic():
                    seats = 5 + (deal.pk % 20)
                    version = services.offer_create(deal=deal, actor=deal.owner)
                    services.version_update(
                        version=version, actor=deal.owner,
                        situation=f"{deal.organization.name} tracks its pipeline in spreadsheets; forecasts take days.",
                        benefit="One shared pipeline, forecasts in minutes, and offers the customer accepts online.",
                    )
                    services.line_add(version=version, actor=deal.owner, product=licence, quantity=seats,
                                      discount_percent="10" if seats >= 15 else "0")
                    services.line_add(version=version, actor=deal.owner, product=book, quantity=seats)
                    if index % 2 == 0:
                        basic = services.package_add(version=version, actor=deal.owner, name="Basic")
                        plus = services.package_add(version=version, actor=deal.owner, name="Plus", is_recommended=True)
                        services.line_add(version=version, actor=deal.owner, product=workshop, quantity=1, package=basic)
                        services.line_add(version=version, actor=deal.owner, product=workshop, quantity=2, package=plus)
                        services.line_add(version=version, actor=deal.owner, product=migration, quantity=1, package=plus)
                        services.line_add(version=version, actor=deal.owner, product=support, quantity=1, package=plus)
                    else:
                        services.line_add(version=version, actor=deal.owner, product=workshop, quantity=1)
                    services.offer_send(version=version, actor=deal.owner, base_url=base_url)
                    created += 1
        self.stdout.write(f"{created} demo offer(s) sent; products: {Product.objects.count()}")
