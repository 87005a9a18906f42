"""python manage.py backtest: the methods against a synthetic pipeline whose truth is known, or
(--history, --realistic, --synthetic-history) against a history, month by month, beside naive
baselines."""

import json

import dj_database_url
import numpy as np
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from forecasting import evaluation, realistic, synthetic
from forecasting.baselines import BASELINES
from forecasting.loading import load_history
from forecasting.periods import MONTH, PERIOD_KINDS

SOURCE_ALIAS = "backtest_source"
REALISTIC_SEEDS = (11, 12, 13)


class Command(BaseCommand):
    help = (
        "Without options: generate seeded synthetic pipelines (Markov stage moves with skips and backward moves, "
        "Weibull times in stage, slipping close dates, a shared shock per quarter) and score each method's forecast "
        "of every quarter, made the evening before it started: WAPE, bias, Brier score, P10–P90 coverage. "
        "With --history (this installation's database, or --database-url), --realistic (generated real-shaped "
        "histories) or --synthetic-history: forecast the won amount of each period at the end of the period "
        "before, with every method and three naive baselines, and score them."
    )

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, action="append", default=None, help="repeatable (default: 7 8 9)")
        parser.add_argument("--months", type=int, default=None, help="months generated (default 48; --realistic 15)")
        parser.add_argument("--warmup", type=int, default=None, help="periods of history before the first scored one")
        parser.add_argument("--deals-per-month", type=float, default=None)
        parser.add_argument("--simulations", type=int, default=2000)
        parser.add_argument("--quarters", action="store_true", help="also print every scored period")
        source = parser.add_mutually_exclusive_group()
        source.add_argument("--history", action="store_true", help="backtest on this installation's own history")
        source.add_argument("--realistic", action="store_true", help="backtest on generated real-shaped histories")
        source.add_argument(
            "--synthetic-history", action="store_true", help="backtest month by month on the synthetic generator"
        )
        parser.add_argument("--database-url", default=None, help="with --history: read another installation's data")
        parser.add_argument("--pipeline", type=int, default=None, help="with --history: pipeline id (default: default)")
        parser.add_argument("--period", choices=PERIOD_KINDS, default=MONTH, help="history backtests: month|quarter")
        parser.add_argument("--format", choices=("json", "table"), default="table")

    def handle(self, *args, **opts):
        if opts["database_url"] and not opts["history"]:
            raise CommandError("--database-url needs --history.")
        if opts["history"] or opts["realistic"] or opts["synthetic_history"]:
            return self._histories(opts)
        return self._synthetic(opts)

    # --- Histories, month by month -------------------------------------------------------------

    def _histories(self, opts):
        kind = opts["period"]
        warmup = opts["warmup"] if opts["warmup"] is not None else evaluation.DEFAULT_WARMUP
        named = []
        if opts["history"]:
            history = self._own_history(opts)
            named.append(("this installation", history, None))
        elif opts["realistic"]:
            for seed in opts["seed"] or REALISTIC_SEEDS:
                real = realistic.generate(
                    seed=seed, months=opts["months"] or 15, deals_per_month=opts["deals_per_month"] or 320.0
                )
                named.append((f"real-shaped, seed {seed}", real.history, real.end))
        else:
            months = opts["months"] or 30
            for seed in opts["seed"] or synthetic.DEFAULT_SEEDS:
                synth = synthetic.generate(seed=seed, months=months, deals_per_month=opts["deals_per_month"] or 200.0)
                end = (synth.start.astype("datetime64[M]") + np.timedelta64(months, "M")).astype("datetime64[s]") - 1
                named.append((f"synthetic, seed {seed}", synth.history, end))
        results = []
        for name, history, end in named:
            if history.n_deals == 0:
                raise CommandError("There is no history to backtest on.")
            result = evaluation.evaluate(history, kind=kind, warmup=warmup, simulations=opts["simulations"], end=end)
            if not result.periods:
                raise CommandError(
                    f"The history of {name} is too short: it needs more than {warmup} complete {kind}s "
                    "(see --warmup)."
                )
            results.append((name, result))
        if opts["format"] == "json":
            payload = [
                {
                    "history": name,
                    "period": kind,
                    "currency": e.currency,
                    "scores": [_score_json(s) for s in e.scores],
                    "periods": [_period_json(row) for row in e.periods],
                }
                for name, e in results
            ]
            self.stdout.write(json.dumps(payload, indent=2, ensure_ascii=False))
            return
        for name, e in results:
            self.stdout.write(f"{name}: {len(e.periods)} {kind}s scored ({e.currency}), each forecast at the end of the one before.")
            self._scores(e.scores)
            if opts["quarters"]:
                self._periods(e)
            self.stdout.write("")
        if len(results) > 1:
            self.stdout.write(f"All {len(results)} histories together:")
            self._scores(evaluation.pooled([e for _, e in results]))
        self.stdout.write(
            "WAPE = Σ|forecast − actual| / Σ actual; bias = Σ(forecast − actual) / Σ actual; coverage = how often "
            "the actual fell inside P10–P90; the year-ago baseline scores only the periods that have one."
        )

    def _own_history(self, opts):
        using = "default"
        if opts["database_url"]:
            # Django fills in the settings a connection needs, as it does for DATABASES.
            config = connections.configure_settings({"default": dj_database_url.parse(opts["database_url"])})
            connections.databases[SOURCE_ALIAS] = config["default"]
            using = SOURCE_ALIAS
        from pipeline.models import Pipeline

        pipelines = Pipeline.objects.using(using)
        pipeline = (
            pipelines.filter(pk=opts["pipeline"]).first()
            if opts["pipeline"]
            else pipelines.filter(is_default=True).first() or pipelines.order_by("pk").first()
        )
        if pipeline is None:
            raise CommandError("There is no such pipeline.")
        return load_history(pipeline_id=pipeline.pk, using=using)

    def _scores(self, scores):
        methods_only = [s for s in scores if s.name in evaluation.METHODS]
        baselines = [s for s in scores if s.name in BASELINES and s.periods]
        best = min(methods_only, key=lambda s: s.wape)
        best_naive = min(baselines, key=lambda s: s.wape) if baselines else None
        header = f"  {'forecast':<32} {'WAPE':>7} {'bias':>8} {'Brier':>7} {'P10-P90 held':>13} {'periods':>8}"
        self.stdout.write(header)
        self.stdout.write("  " + "-" * (len(header) - 2))
        for s in scores:
            label = s.name if s.name in evaluation.METHODS else f"naive: {s.name}"
            mark = " *" if s is best else ("  " if s is not best_naive else " °")
            self.stdout.write(
                f"  {label:<32} {_f(s.wape, '.3f'):>7} {_f(s.bias, '+.3f'):>8} {_f(s.brier, '.4f'):>7} "
                f"{_f(s.coverage, '.0%'):>13} {s.periods:>8}{mark}"
            )
        if best_naive is not None and best_naive.wape > 0:
            self.stdout.write(
                f"  * best method: {best.name}, WAPE {best.wape / best_naive.wape:.2f} × the best naive "
                f"baseline (° {best_naive.name})"
            )

    def _periods(self, e):
        for row in e.periods:
            cells = "  ".join(f"{m} {row[m][0]:,.0f} [{row[m][1]:,.0f}–{row[m][2]:,.0f}]" for m in evaluation.METHODS)
            naive = "  ".join(f"{b} {row[b]:,.0f}" for b in BASELINES if not np.isnan(row[b]))
            self.stdout.write(
                f"    {row['period']} actual {row['actual']:>12,.0f}  {cells}  new business {row['new_business']:,.0f}"
                f"  {naive}"
            )

    # --- The synthetic pipelines with known truth ------------------------------------------------

    def _synthetic(self, opts):
        seeds = tuple(opts["seed"] or synthetic.DEFAULT_SEEDS)
        scores, quarters = synthetic.backtest(
            seeds=seeds,
            months=opts["months"] or 48,
            warmup_quarters=opts["warmup"] if opts["warmup"] is not None else 6,
            deals_per_month=opts["deals_per_month"] or 200.0,
            simulations=opts["simulations"],
        )
        truth = ", ".join(f"{n} {p:.1%}" for n, p in zip(synthetic.STAGE_NAMES, synthetic.true_probabilities()))
        configured = ", ".join(f"{n} {p:.0%}" for n, p in zip(synthetic.STAGE_NAMES, synthetic.CONFIGURED))
        self.stdout.write(f"Seeds {', '.join(map(str, seeds))}; {scores[0].quarters} quarters scored.")
        self.stdout.write(f"True win probabilities: {truth}")
        self.stdout.write(f"Configured (weighted): {configured}")
        self.stdout.write("")
        header = f"{'method':<12} {'WAPE':>7} {'bias':>8} {'Brier':>7} {'P10-P90 coverage':>17} {'|p - true p|':>13}"
        self.stdout.write(header)
        self.stdout.write("-" * len(header))
        for s in scores:
            self.stdout.write(
                f"{s.method:<12} {s.wape:>7.3f} {s.bias:>+8.3f} {s.brier:>7.4f} {s.coverage:>17.0%} "
                f"{s.probability_error:>13.3f}"
            )
        self.stdout.write("")
        self.stdout.write(
            "true = the generator's exact probabilities with the close dates as the reps entered them; "
            "weighted and learned ranges assume independent deals."
        )
        if opts["quarters"]:
            self.stdout.write("")
            for q in quarters:
                cells = "  ".join(f"{m} {q[m][0]:,.0f} [{q[m][1]:,.0f}–{q[m][2]:,.0f}]" for m in synthetic.METHODS)
                self.stdout.write(
                    f"seed {q['seed']} {q['quarter']} open {q['open_deals']:>4} actual {q['actual']:>12,.0f}  {cells}"
                )


def _f(value: float, spec: str) -> str:
    return "–" if value != value else format(value, spec)


def _finite(value):
    return None if value is None or value != value else round(float(value), 4)


def _score_json(s) -> dict:
    return {
        "name": s.name,
        "wape": _finite(s.wape),
        "bias": _finite(s.bias),
        "brier": _finite(s.brier),
        "coverage": _finite(s.coverage),
        "periods": s.periods,
    }


def _period_json(row: dict) -> dict:
    out = {"period": row["period"], "actual": round(row["actual"], 2), "new_business": round(row["new_business"], 2)}
    for name in evaluation.METHODS:
        f, lo, hi = row[name]
        out[name] = {"expected": round(f, 2), "p10": round(lo, 2), "p90": round(hi, 2)}
    for name in BASELINES:
        out[name] = _finite(row[name])
    return out
