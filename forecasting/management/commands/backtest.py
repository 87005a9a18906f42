"""python manage.py backtest: the methods against a synthetic pipeline whose truth is known."""

from django.core.management.base import BaseCommand

from forecasting import synthetic


class Command(BaseCommand):
    help = (
        "Generate seeded synthetic pipelines (Markov stage moves with skips and backward moves, Weibull "
        "times in stage, slipping close dates, a shared shock per quarter) and score each method's forecast "
        "of every quarter, made the evening before it started: WAPE, bias, Brier score, P10–P90 coverage."
    )

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, action="append", default=None, help="repeatable (default: 7 8 9)")
        parser.add_argument("--months", type=int, default=48)
        parser.add_argument("--warmup", type=int, default=6, help="quarters of history before the first scored one")
        parser.add_argument("--deals-per-month", type=float, default=200.0)
        parser.add_argument("--simulations", type=int, default=2000)
        parser.add_argument("--quarters", action="store_true", help="also print every scored quarter")

    def handle(self, *args, **opts):
        seeds = tuple(opts["seed"] or synthetic.DEFAULT_SEEDS)
        scores, quarters = synthetic.backtest(
            seeds=seeds,
            months=opts["months"],
            warmup_quarters=opts["warmup"],
            deals_per_month=opts["deals_per_month"],
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
