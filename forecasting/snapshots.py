"""The snapshot: every figure the dashboard shows, per level (the pipeline, each team, each owner,
each manager's people), period kind, period, method and currency, computed by the recompute
(`services.forecast_refresh_pipeline`) and read back by the dashboard and the API."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from datetime import date
from decimal import Decimal

import numpy as np
from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from accounts.models import Role
from currencies.money import round_money
from pipeline.models import Deal, ForecastCategory
from pipeline.selectors import visible_users

from . import conversion as conversion_rules
from . import methods, montecarlo, today_outlook
from .history import OPEN, WON, Book, History, as_of as book_as_of
from .models import ForecastSnapshot, Method
from .periods import MONTH, QUARTER, period_of_date, period_start
from .quotas import level_quotas, quota_rows
from .sums import Cells, Level, level_sums, open_period, open_sums, period_sums, won_period

# What the daily snapshot covers: the periods the dashboard shows.
SNAPSHOT_HORIZONS = {MONTH: 3, QUARTER: 3}
NO_QUOTA = {"quota": None, "quota_chance": None}
CHANCE = Decimal("0.0001")


def snapshot_levels(pipeline_id: int, owners=None) -> list[Level]:
    """The snapshot's levels, the scopes of the dashboard: the pipeline, each team and each owner
    with deals in the pipeline (or of the `owners` given), and each active manager who sees any of
    them (their people as `pipeline.selectors.visible_users` says, one query per manager)."""
    User = get_user_model()
    users = (
        User.objects.filter(deals__pipeline_id=pipeline_id).distinct()
        if owners is None
        else (User.objects.filter(pk__in=[int(o) for o in owners]).order_by("pk"))
    )
    teams = dict(users.values_list("pk", "team_id"))
    team_owners = defaultdict(list)
    for owner, team in teams.items():
        if team is not None:
            team_owners[team].append(owner)
    managers = []
    for manager in User.objects.filter(role=Role.MANAGER, is_active=True).order_by("pk"):
        people = sorted(visible_users(manager).values_list("pk", flat=True))
        if set(people) & set(teams):
            managers.append(Level(None, None, manager.pk, people))
    return (
        [Level(None, None, None, None)]
        + [Level(t, None, None, o) for t, o in team_owners.items()]
        + managers
        + [Level(None, o, None, [o]) for o in teams]
    )


def snapshot_seed(pipeline_id: int, as_of: date) -> int:
    """The seed of a snapshot's simulation: the same pipeline and day give the same figures."""
    return (pipeline_id * 1_000_003 + as_of.toordinal()) % 2**32


def past_rows(*, pipeline_id: int, as_of: date, history: History) -> list[dict]:
    """Every figure of the snapshot as of a past day, rebuilt from the history (plain dicts, no
    ids, no times)."""
    deals = Deal.objects.filter(pipeline_id=pipeline_id)
    levels = snapshot_levels(pipeline_id)

    rows = []
    book = book_as_of(history, as_of)
    model = methods.fit_learned(history, as_of) if len(history.sc_deal) else None
    calendars = [
        methods.Calendar(kind, period_of_date(as_of, kind), horizon) for kind, horizon in SNAPSHOT_HORIZONS.items()
    ]
    currencies, cur = methods.currency_index(book.currency)
    in_level = [
        np.ones(len(cur), bool) if level.owner_ids is None else np.isin(book.owner_id, level.owner_ids)
        for level in levels
    ]
    if model is not None:
        # One simulation of the open deals for every level, month and quarter, as today's snapshot.
        amount, is_won = np.nan_to_num(book.amount.astype(float), nan=0.0), book.status == WON
        won = []
        for c in calendars:
            offset = methods.close_period_offsets(book, c.kind, c.first_period, c.horizon)
            sums = [
                methods._group_sum(np.where(is_won & mine, amount, 0.0), cur, offset, len(currencies), c.horizon)
                for mine in in_level
            ]
            won.append(np.array(sums, float).reshape(len(levels), len(currencies), c.horizon))
        simulated = montecarlo.simulate_deals(
            book=book,
            model=model,
            currencies=currencies,
            levels=[level.owner_ids for level in levels],
            calendars=calendars,
            won=won,
            simulations=montecarlo.snapshot_simulations(int((book.status == OPEN).sum())),
            seed=snapshot_seed(pipeline_id, as_of),
        )
    for k_index, calendar in enumerate(calendars):
        kind, first, horizon = calendar.kind, calendar.first_period, calendar.horizon
        db = period_sums(deals=deals, kind=kind, first_period=first, horizon=horizon, by=("owner_id",))
        for level, scope in enumerate(levels):
            sums = level_sums(db, owner_ids=scope.owner_ids)
            in_scope = {"team": scope.team, "owner": scope.owner, "manager": scope.manager}
            for (currency, start), v in sorted(sums.items()):
                sd = Decimal(float(v["variance"]) ** 0.5)
                expected = v["won"] + v["weighted"]
                base = {**in_scope, "kind": kind, "period_start": start, "currency": currency}
                rows.append(
                    {
                        **base,
                        "method": Method.WEIGHTED,
                        "won": v["won"],
                        "expected": expected,
                        "p10": max(v["won"], expected - Decimal(methods.Z90) * sd),
                        "p50": expected,
                        "p90": expected + Decimal(methods.Z90) * sd,
                        **NO_QUOTA,
                    }
                )
                for category in (ForecastCategory.COMMIT, ForecastCategory.BEST_CASE, ForecastCategory.PIPELINE):
                    amount = v[category]
                    rows.append(
                        {
                            **base,
                            "method": category,
                            "won": v["won"],
                            "expected": amount,
                            "p10": amount,
                            "p50": amount,
                            "p90": amount,
                            **NO_QUOTA,
                        }
                    )
            if model is None:
                continue
            sub = book.subset(in_level[level])
            # The level's currencies (of any of its deals, as the learned figures list them).
            present = [currencies.index(name) for name in methods.currency_index(sub.currency)[0]]
            figures = simulated[k_index]
            simulated_level = methods.PeriodForecast(
                method=Method.MONTECARLO,
                kind=kind,
                first_period=first,
                currencies=[currencies[i] for i in present],
                won=won[k_index][level, present],
                **{name: figures[name][level, present] for name in ("expected", "p10", "p50", "p90")},
            )
            for result in (methods.learned(model, sub, kind=kind, first_period=first, horizon=horizon), simulated_level):
                for row in result.rows():
                    rows.append(
                        {
                            **in_scope,
                            "kind": kind,
                            "period_start": period_start(first + result.period_labels().index(row["period"]), kind),
                            "currency": row["currency"],
                            "method": result.method,
                            "won": row["won"],
                            "expected": row["expected"],
                            "p10": row["p10"],
                            "p50": row["p50"],
                            "p90": row["p90"],
                            # The past day's quotas are not looked up: only today's run feeds the dashboard.
                            **NO_QUOTA,
                        }
                    )
    for row in rows:
        for name in ("won", "expected", "p10", "p50", "p90"):
            row[name] = Decimal(row[name]).quantize(methods.CENT)
    return rows


def today_rows(
    *, pipeline_id: int, as_of: date, stages: tuple, model: methods.LearnedModel | None, outlook: dict | None = None
) -> tuple[list[dict], dict, list[dict], dict | None]:
    """Every figure of today's snapshot from the deals' current rows (the as-of state of today), in
    a constant number of queries; the open amounts per currency for the cache summary; per level
    the open deals without an amount or an expected close date (`deal_warnings`); and how the
    figures in the reporting currency were converted (`conversion.Conversion.as_dict`, None when
    every deal is in it already).

    Each figure is computed per currency (rows with `converted` False) and, when the pipeline has
    deals in other currencies, once more on the inputs converted into the reporting currency
    (rows with `converted` True, in that currency): one card per period, and a Monte Carlo whose
    range covers the whole pipeline.

    With the stored `outlook` fit, the learned and Monte Carlo figures are those of the `forecast`
    command (`today_outlook`: timing from the history, new business as its own line); without it
    (a fit made before fits kept it), those of the stage probabilities and the reps' dates."""
    stage_ids = stages[0]
    ranges = [
        (period_start(period_of_date(as_of, k), k), period_start(period_of_date(as_of, k) + h, k))
        for k, h in SNAPSHOT_HORIZONS.items()
    ]
    data = open_sums(
        pipeline_id=pipeline_id,
        stage_ids=stage_ids,
        won_from=min(r[0] for r in ranges),
        won_until=max(r[1] for r in ranges),
    )
    # Owners with open deals, or deals won in the periods shown: the others have no figure today.
    levels = snapshot_levels(pipeline_id, owners=np.union1d(data.owner, data.won_owner))
    book = (
        montecarlo.open_book(pipeline_id=pipeline_id, as_of=as_of, stage_ids=stage_ids) if len(stage_ids) else None
    )
    use_outlook = model is not None and outlook is not None and book is not None
    warnings = []
    if book is not None:
        known, _currency = _known_currencies(book, data.currencies)
        owner_group, group_levels = owner_groups(known.owner_id, levels)
        warnings = deal_warnings(known, owner_group, group_levels, levels, as_of, estimated=use_outlook)
    quotas = quota_rows(_calendars(as_of))
    summary, rows = _today_figures(
        pipeline_id=pipeline_id, as_of=as_of, stages=stages, model=model, outlook=outlook, data=data, levels=levels,
        book=book, quota=level_quotas(levels=levels, calendars=_calendars(as_of), currencies=data.currencies, rows=quotas),
    )  # fmt: skip
    for row in rows:
        row["converted"] = False
    conversion = None
    if conversion_rules.needed(data.currencies):
        first_won = data.won_day.min().item() if len(data.won_day) else None
        # The rates of the deals' currencies, and of the quotas' (a quota may be in a currency no deal has).
        currencies = sorted({*data.currencies, *(row[4] for row in quotas)})
        rules = conversion_rules.rules_for(currencies, as_of=as_of, first_won=first_won)
        converted, notes = conversion_rules.convert_sums(data, rules)
        quota_missing = []
        quota = level_quotas(
            levels=levels, calendars=_calendars(as_of), currencies=converted.currencies,
            convert=lambda currency: rules.for_open(currency), missing=quota_missing, rows=quotas,
        )  # fmt: skip
        _summary, in_reporting = _today_figures(
            pipeline_id=pipeline_id, as_of=as_of, stages=stages, model=model,
            outlook=conversion_rules.convert_outlook_fit(outlook, rules, data.currencies), data=converted,
            levels=levels, book=conversion_rules.convert_book(book, rules) if book is not None else None, quota=quota,
        )  # fmt: skip
        for row in in_reporting:
            row["converted"] = True
            for name in ("won", "expected", "p10", "p50", "p90", "quota"):
                if row[name] is not None:
                    row[name] = round_money(row[name], rules.currency)
        rows += in_reporting
        conversion = conversion_rules.conversion_of(rules, data.currencies, notes, quota_missing).as_dict()
    return rows, summary, warnings, conversion


def _calendars(as_of: date) -> list[methods.Calendar]:
    return [methods.Calendar(kind, period_of_date(as_of, kind), horizon) for kind, horizon in SNAPSHOT_HORIZONS.items()]


def _today_figures(
    *, pipeline_id: int, as_of: date, stages: tuple, model, outlook, data, levels, book, quota
) -> tuple[dict, list[dict]]:
    """The figures of today's snapshot from the sums `data` and the open deals `book` (both in the
    same currencies: the deals' own, or the reporting currency), and the cache summary."""
    stage_ids, configured, _ = stages
    n_cur = len(data.currencies)
    cp = configured[data.stage] if len(stage_ids) else np.zeros(len(data.stage))
    weighted = (data.s1 - data.own_s1) * cp + data.own_weighted / 100.0
    weighted_var = np.maximum((data.s2 - data.own_s2) * cp * (1 - cp) + data.own_variance / 10_000.0, 0.0)

    summary = {}
    for c, currency in enumerate(data.currencies):
        mine = data.currency == c
        if mine.any():
            summary[currency] = {
                "weighted": str(methods.money(weighted[mine].sum())),
                "total": str(methods.money(data.s1[mine].sum())),
            }

    open_cells = Cells(data.owner, levels, n_cur, 1)
    won_cells = Cells(data.won_owner, levels, n_cur, 1)
    # The currencies a level has (open deals, or won ones in the periods shown).
    present = (open_cells.sum(data.count.astype(float), data.currency, np.zeros(len(data.owner), np.int64)) > 0) | (
        won_cells.sum(data.won_count.astype(float), data.won_currency, np.zeros(len(data.won_owner), np.int64)) > 0
    )
    open_count = open_cells.sum(data.count.astype(float), data.currency, np.zeros(len(data.owner), np.int64))
    open_count = open_count.sum(axis=(1, 2))  # per level
    calendars = _calendars(as_of)
    won_of = {}  # per period kind: the won amounts and counts per level, currency and period
    for calendar in calendars:
        wcells = Cells(data.won_owner, levels, n_cur, calendar.horizon)
        in_period = won_period(data.won_day, calendar.kind, calendar.first_period, calendar.horizon)
        won_of[calendar.kind] = (
            wcells.sum(data.won, data.won_currency, in_period),
            wcells.sum(data.won_count.astype(float), data.won_currency, in_period),
        )
    use_outlook = model is not None and outlook is not None and book is not None
    if book is not None:
        book, currency = _known_currencies(book, data.currencies)
        owner_group, group_levels = owner_groups(book.owner_id, levels)
    exact = None
    if use_outlook:
        outlooks = [
            today_outlook.level_outlook(
                fit=outlook, book=book, owner_group=owner_group, group_levels=group_levels, levels=levels,
                stage_model=model, stage_ids=stage_ids, currencies=data.currencies, currency=currency,
                kind=c.kind, first=c.first_period, horizon=c.horizon, as_of=as_of, won=won_of[c.kind][0],
                quota=quota[k], simulations=montecarlo.snapshot_simulations(len(book)),
                seed=(snapshot_seed(pipeline_id, as_of) + k) % 2**32,
            )  # fmt: skip
            for k, c in enumerate(calendars)
        ]
    elif model is not None and open_count[0] <= montecarlo.EXACT_MONTECARLO_MAX_DEALS:
        # One simulation of the open deals for every level, month and quarter.
        exact = montecarlo.simulate_deals(
            book=book,
            model=model,
            currencies=data.currencies,
            levels=[level.owner_ids for level in levels],
            calendars=calendars,
            won=[won_of[calendar.kind][0] for calendar in calendars],
            simulations=montecarlo.snapshot_simulations(int(open_count[0])),
            seed=snapshot_seed(pipeline_id, as_of),
            quota=quota,
        )

    rows = []
    for k_index, calendar in enumerate(calendars):
        kind, first, horizon = calendar.kind, calendar.first_period, calendar.horizon
        cells = Cells(data.owner, levels, n_cur, horizon)
        period = open_period(data.close, kind, first, horizon)
        won, won_n = won_of[kind]
        open_n = cells.sum(data.count.astype(float), data.currency, period)
        w_mean = cells.sum(weighted, data.currency, period)
        w_var = cells.sum(weighted_var, data.currency, period)
        category = {name: cells.sum(values, data.currency, period) for name, values in data.categories.items()}
        figures = []  # (method, arrays: won, expected, p10, p50, p90, shown, quota, quota chance)
        w_expected = won + w_mean
        w_sd = np.sqrt(w_var)
        figures.append(
            (
                Method.WEIGHTED,
                won,
                w_expected,
                np.maximum(won, w_expected - methods.Z90 * w_sd),
                w_expected,
                w_expected + methods.Z90 * w_sd,
                (open_n > 0) | (won_n > 0),
                None,
                None,
            )
        )
        for name, amount in category.items():
            figures.append((name, won, amount, amount, amount, amount, (open_n > 0) | (won_n > 0), None, None))
        if use_outlook:
            full_grid = np.broadcast_to(present[:, :, :1], won.shape)
            o = outlooks[k_index]
            l_expected = won + o.pipeline + o.new_business
            l_sd = np.sqrt(o.variance)
            mc = o.simulated
            figures += [
                (
                    Method.LEARNED, won, l_expected, np.maximum(won, l_expected - methods.Z90 * l_sd), l_expected,
                    l_expected + methods.Z90 * l_sd, full_grid, None, None,
                ),
                (
                    Method.MONTECARLO, won, mc["expected"], mc["p10"], mc["p50"], mc["p90"], full_grid,
                    quota[k_index], mc.get("quota_chance"),
                ),
                (
                    Method.NEW_BUSINESS, won, o.new_business, o.new_business, o.new_business, o.new_business,
                    full_grid, None, None,
                ),
            ]  # fmt: skip
        elif model is not None:
            lp = model.probability[data.stage] if len(stage_ids) else np.zeros(len(data.stage))
            l_expected = won + cells.sum(lp * data.s1, data.currency, period)
            l_sd = np.sqrt(cells.sum(lp * (1 - lp) * data.s2, data.currency, period))
            most = won + cells.sum(data.s1, data.currency, period)
            full_grid = np.broadcast_to(present[:, :, :1], won.shape)
            figures.append(
                (
                    Method.LEARNED,
                    won,
                    l_expected,
                    np.maximum(won, l_expected - methods.Z90 * l_sd),
                    l_expected,
                    np.minimum(most, l_expected + methods.Z90 * l_sd),
                    full_grid,
                    None,
                    None,
                )
            )
            if exact is not None:
                mc = exact[k_index]
            else:
                mc = montecarlo.simulate_sums(
                    data=data,
                    model=model,
                    cells=cells,
                    won=won,
                    kind=kind,
                    first=first,
                    horizon=horizon,
                    as_of=as_of,
                    seed=(snapshot_seed(pipeline_id, as_of) + k_index) % 2**32,
                    quota=quota[k_index],
                )
            chance = mc.get("quota_chance")
            figures.append(
                (Method.MONTECARLO, won, mc["expected"], mc["p10"], mc["p50"], mc["p90"], full_grid, quota[k_index], chance)
            )
        for method, f_won, expected, p10, p50, p90, shown, target, chance in figures:
            for level, currency, j in zip(*np.nonzero(shown)):
                scope = levels[level]
                has_quota = target is not None and not np.isnan(target[level, currency, j])
                rows.append(
                    {
                        "team": scope.team,
                        "owner": scope.owner,
                        "manager": scope.manager,
                        "kind": kind,
                        "period_start": period_start(first + int(j), kind),
                        "currency": data.currencies[currency],
                        "method": method,
                        "won": methods.money(f_won[level, currency, j]),
                        "expected": methods.money(expected[level, currency, j]),
                        "p10": methods.money(p10[level, currency, j]),
                        "p50": methods.money(p50[level, currency, j]),
                        "p90": methods.money(p90[level, currency, j]),
                        "quota": methods.money(target[level, currency, j]) if has_quota else None,
                        "quota_chance": (
                            Decimal(float(chance[level, currency, j])).quantize(CHANCE)
                            if has_quota and chance is not None
                            else None
                        ),
                    }
                )
    return summary, rows


def _known_currencies(book: Book, currencies: list[str]) -> tuple[Book, np.ndarray]:
    """The book's deals in the currencies the sums know, with their currency codes (a deal opened
    in a new currency since the sums were read counts in the next run)."""
    names, codes = methods.currency_index(book.currency)
    code = np.array([currencies.index(name) if name in currencies else -1 for name in names], np.int64)
    currency = code[codes] if len(codes) else np.zeros(0, np.int64)
    keep = currency >= 0
    return (book, currency) if keep.all() else (book.subset(keep), currency[keep])


def owner_groups(owner_id: np.ndarray, levels: list[Level]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Owners that count in the same levels form one group: per deal its group, per level the
    groups it sums."""
    owners, owner_of_deal = np.unique(owner_id, return_inverse=True)
    member = np.array(
        [np.ones(len(owners), bool) if lv.owner_ids is None else np.isin(owners, list(lv.owner_ids)) for lv in levels],
        bool,
    ).reshape(len(levels), len(owners))
    signatures, group_of_owner = np.unique(member.T, axis=0, return_inverse=True)
    group = group_of_owner.reshape(-1)[owner_of_deal.reshape(-1)] if len(owner_id) else np.zeros(0, np.int64)
    return group.astype(np.int64), [np.flatnonzero(signatures[:, n]) for n in range(len(levels))]


def deal_warnings(
    book: Book, group: np.ndarray, group_levels, levels: list[Level], as_of: date, *, estimated: bool
) -> list[dict]:
    """Per level with open deals: how many there are, and how many lack an amount, lack an
    expected close date, or are past it (JSON-safe, stored with the run); `estimated` says whether
    the learned and Monte Carlo figures spread the undated and overdue ones by the timing model."""
    n_groups = int(group.max()) + 1 if len(group) else 0
    flags = {
        "open": np.ones(len(book), bool),
        "no_amount": np.isnan(book.amount.astype(float)),
        "no_expected_close": np.isnat(book.expected_close),
        "overdue": book.expected_close < np.datetime64(as_of, "D"),
    }
    per_group = {name: np.bincount(group[f], minlength=n_groups) for name, f in flags.items()}
    out = []
    for level, groups in zip(levels, group_levels):
        counts = {name: int(values[groups].sum()) for name, values in per_group.items()}
        if counts["open"]:
            out.append(
                {"team": level.team, "owner": level.owner, "manager": level.manager, "estimated": estimated, **counts}
            )
    return out


def rows_digest(rows: list[dict], *, extra=None) -> str:
    canonical = sorted(json.dumps({k: str(v) for k, v in row.items()}, sort_keys=True) for row in rows)
    if extra is not None:
        canonical.append(json.dumps(extra, sort_keys=True, default=str))
    return hashlib.sha256("\n".join(canonical).encode()).hexdigest()


def latest_snapshots(*, pipeline_id: int, as_of: date | None = None) -> QuerySet[ForecastSnapshot]:
    """The rows of the latest run of the latest (or given) day."""
    qs = ForecastSnapshot.objects.filter(pipeline_id=pipeline_id)
    if as_of:
        qs = qs.filter(as_of=as_of)
    run = qs.order_by("-as_of", "-computed_at", "-pk").values_list("run", flat=True).first()
    return ForecastSnapshot.objects.filter(run=run) if run else ForecastSnapshot.objects.none()
