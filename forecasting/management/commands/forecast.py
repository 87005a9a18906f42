"""python manage.py forecast --as-of YYYY-MM-DD --method weighted|learned|montecarlo ..."""

import json
from datetime import date

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from forecasting import outlook, runs
from forecasting.methods import DEFAULT_SIMULATIONS, money
from forecasting.periods import PERIOD_KINDS
from pipeline.models import Pipeline

COLUMNS = ("period", "currency", "won", "expected", "p10", "p50", "p90")
NUMBERS = COLUMNS[2:] + ("not_yet_created",)


class Command(BaseCommand):
    help = "Forecast the won amount per close period as of a date, seeing only what was known then."

    def add_arguments(self, parser):
        parser.add_argument("--as-of", dest="as_of", default=None, help="YYYY-MM-DD (default: today)")
        parser.add_argument("--method", choices=runs.METHOD_NAMES, default="learned")
        parser.add_argument("--period", choices=PERIOD_KINDS, default="quarter")
        parser.add_argument("--horizon", type=int, default=2, help="number of periods from the one holding the date")
        parser.add_argument("--format", choices=("json", "table"), default="table")
        parser.add_argument("--deals", action="store_true", help="also list each open deal's win probability")
        parser.add_argument("--pipeline", type=int, default=None, help="pipeline id (default: the default pipeline)")
        parser.add_argument("--owner", type=int, action="append", default=None, help="only this owner's deals (id)")
        parser.add_argument("--simulations", type=int, default=DEFAULT_SIMULATIONS)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--pipeline-only",
            action="store_true",
            help="only the open deals, at their stage's probability and the reps' expected close dates "
            "(no timing learned from the history, no new business)",
        )
        parser.add_argument(
            "--quota",
            action="append",
            default=None,
            metavar="[CUR=]AMOUNT",
            help="montecarlo: also print the chance of winning at least this much per period "
            "(repeatable, one per currency; without CUR= the default currency)",
        )

    def handle(self, *args, **opts):
        try:
            as_of = date.fromisoformat(opts["as_of"]) if opts["as_of"] else date.today()
        except ValueError:
            raise CommandError(f"--as-of must be a date like 2025-03-31, not {opts['as_of']!r}") from None
        if opts["horizon"] < 1:
            raise CommandError("--horizon must be at least 1")
        pipeline_id = opts["pipeline"] or runs.default_pipeline_id()
        if pipeline_id is None or not Pipeline.objects.filter(pk=pipeline_id).exists():
            raise CommandError("There is no such pipeline.")
        quota = self._quota(opts["quota"]) if opts["quota"] else None
        if quota and opts["method"] != "montecarlo":
            raise CommandError("--quota needs --method montecarlo: only simulated futures give a chance.")
        run = runs.forecast_run(
            as_of=as_of,
            method=opts["method"],
            kind=opts["period"],
            horizon=opts["horizon"],
            pipeline_id=pipeline_id,
            owner_ids=opts["owner"],
            simulations=opts["simulations"],
            seed=opts["seed"],
            quota=quota,
            outlook=not opts["pipeline_only"],
        )
        rows = run.result.rows(empty_currency=settings.STAGEFLOW["DEFAULT_CURRENCY"])
        new_business = run.result.extra.get("new_business")
        if new_business is not None:
            currencies = run.result.currencies
            for row in rows:
                c = currencies.index(row["currency"]) if row["currency"] in currencies else None
                j = run.result.period_labels().index(row["period"])
                row["not_yet_created"] = money(new_business[c, j] if c is not None else 0.0)
        warnings = deal_warnings(outlook.open_without(run.book), estimated=not opts["pipeline_only"])
        deals = []
        if opts["deals"]:
            book, p = run.book, run.result.deal_probability
            for i in (book.status == 0).nonzero()[0]:
                deals.append(
                    {
                        "external_id": book.external_id[i] or str(book.deal_id[i]),
                        "id": int(book.deal_id[i]),
                        "stage": run.history.stage_names[book.stage[i]],
                        "probability": round(float(p[i]), 4),
                    }
                )
        if opts["format"] == "json":
            payload = {
                "as_of": as_of.isoformat(),
                "method": opts["method"],
                "period": opts["period"],
                "horizon": opts["horizon"],
                "pipeline": pipeline_id,
                "periods": [{k: (float(v) if k in NUMBERS else v) for k, v in r.items()} for r in rows],
                "warnings": warnings,
                **({"quota": quota} if quota else {}),
            }
            if opts["deals"]:
                payload["deals"] = deals
            self.stdout.write(json.dumps(payload, indent=2, ensure_ascii=False))
            return
        self._table(rows, COLUMNS + (("quota_chance",) if any("quota_chance" in r for r in rows) else ()))
        if new_business is not None:
            self.stdout.write("")
            self.stdout.write(_("Included above, from deals not yet created:"))
            self._table(rows, ("period", "currency", "not_yet_created"))
        for warning in warnings:
            self.stdout.write(self.style.WARNING(warning))
        if opts["deals"]:
            self.stdout.write("")
            self._table(deals, ("external_id", "id", "stage", "probability"))

    def _quota(self, values) -> dict:
        quota = {}
        for value in values:
            currency, _sep, amount = value.rpartition("=")
            currency = (currency or settings.STAGEFLOW["DEFAULT_CURRENCY"]).upper()
            try:
                quota[currency] = float(amount)
            except ValueError:
                raise CommandError(f"--quota must look like 100000 or USD=100000, not {value!r}") from None
        return quota

    def _table(self, rows, columns):
        text = [[str(r.get(c, "")) for c in columns] for r in rows]
        widths = [max([len(c)] + [len(t[i]) for t in text]) for i, c in enumerate(columns)]
        self.stdout.write("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
        numeric = [all(_is_number(t[i]) for t in text) for i in range(len(columns))]
        for t in text:
            self.stdout.write(
                "  ".join(v.rjust(w) if numeric[i] else v.ljust(w) for i, (v, w) in enumerate(zip(t, widths)))
            )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def deal_warnings(counts: dict, *, estimated: bool) -> list[str]:
    """What the forecast had to assume about open deals that lack an amount or a date."""
    out = []
    if counts["no_amount"]:
        out.append(
            ngettext(
                "%(count)d open deal has no amount: it counts as 0.",
                "%(count)d open deals have no amount: they count as 0.",
                counts["no_amount"],
            )
            % {"count": counts["no_amount"]}
        )
    if counts["no_expected_close"]:
        n = counts["no_expected_close"]
        if estimated:
            text = ngettext(
                "%(count)d open deal has no expected close date: when it closes was estimated from how deals "
                "of its stage and age closed before.",
                "%(count)d open deals have no expected close date: when they close was estimated from how deals "
                "of their stage and age closed before.",
                n,
            )
        else:
            text = ngettext(
                "%(count)d open deal has no expected close date: it is left out of the periods.",
                "%(count)d open deals have no expected close date: they are left out of the periods.",
                n,
            )
        out.append(text % {"count": n})
    if counts["overdue"]:
        n = counts["overdue"]
        if estimated:
            text = ngettext(
                "%(count)d open deal is past its expected close date: its remaining chance is spread over the "
                "periods ahead.",
                "%(count)d open deals are past their expected close date: their remaining chance is spread over "
                "the periods ahead.",
                n,
            )
        else:
            text = ngettext(
                "%(count)d open deal is past its expected close date: it counts in the first period.",
                "%(count)d open deals are past their expected close date: they count in the first period.",
                n,
            )
        out.append(text % {"count": n})
    return out
