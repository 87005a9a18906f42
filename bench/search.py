""""Find anything" at 100,000 people: GET /search/?q=… (JSON) for a rep and an admin, for each kind of
text people type: a name's start, a common last name, an e-mail address, a phone number written
differently from how it is stored, a web domain, and a name with a typo.

    python -m bench.search [--people 100000] [--databases postgresql,sqlite] [--repeat 20] [--output FILE]

Each database runs in a subprocess of its own (settings read DATABASE_URL once): PostgreSQL in a
throw-away database of its own, SQLite in a temporary file. The address book is seeded in bulk
(COPY on PostgreSQL): `--people` people at a quarter as many organisations (about four each, one
in twenty at none), most with one or two e-mail addresses and phone numbers in the formats people
type (+49 30 …, 030 …, 0041 …), owned by 40 reps in four teams, and half as many deals as people
with a contact each. Names are drawn so that common last names are common and rare ones rare:
Koch is one person in two hundred (as Müller, the most common name in Germany, is there), Müller
one in forty, a worst case.

Every request is checked to find the person (or organisation) the text was taken from, for the
rep and the admin alike: a fast answer that misses is no answer. The floor is the same SQL
statements, captured from the request, run again through a cursor: the ratio is what Django,
the ranking in Python (SQLite) and JSON cost on top of the database. `python -m bench` runs this
too (--search-people) and adds its rows to bench/results/latest.md; alone, it writes
bench/results/search.md.
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone as dt_timezone
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"

FIRST_NAMES = (
    "Anna Lena Julia Laura Sarah Lisa Katharina Marie Sophie Johanna Hannah Lea Leonie Emma Mia Clara Nina Eva "
    "Sandra Petra Sabine Claudia Andrea Monika Ursula Christina Franziska Theresa Carla Ines Olga Rita Maria Elif "
    "Ayşe Zeynep Fatma Chiara Giulia Sofia Amélie Chloé Zoé Ingrid Astrid Freja Karin Agnieszka Katarzyna Olena "
    "Thomas Michael Andreas Stefan Christian Markus Peter Frank Martin Jürgen Klaus Wolfgang Tobias Jan Lukas Felix "
    "Jonas Leon Paul Max Ben Elias Noah David Daniel Sebastian Florian Simon Matthias Philipp Alexander Niklas "
    "Mehmet Mustafa Ahmet Luca Marco Matteo Pierre Nicolas Lars Henrik Bjørn Piotr Tomasz Oleksandr Dmitri John "
    "James Robert William Oliver Harry George Emily Olivia Amelia Grace Charlotte"
).split()
# Common last names, most common first: drawn with Zipf-like weights (1 / (rank + 3)) for a
# quarter of the people, so that Müller is two people in a hundred: more than in life, a worst case.
COMMON_SHARE = 0.25
COMMON_LAST_NAMES = (
    "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer Koch Bauer Richter Klein "
    "Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hofmann Hartmann Lange Schmitt Werner Schmitz Krause "
    "Meier Lehmann Schmid Schulze Maier Köhler Herrmann König Walter Mayer Huber Kaiser Fuchs Peters Lang Scholz "
    "Möller Weiß Jung Hahn Schubert Vogel Friedrich Keller Günther Frank Berger Winkler Roth Beck Lorenz Baumann "
    "Yılmaz Kaya Demir Rossi Russo Bianchi Martin Bernard Dubois Nowak Kowalski Smith Jones Brown Taylor"
).split()
# The other three quarters: a stem and an ending, about 1,700 rarer names (Lindqvist, Oberhauser, …).
STEMS = (
    "Lind Ober Unter Hoch Brunn Stein Eichen Birken Linden Rosen Sonnen Winter Sommer Herbst Frieden Kirch "
    "Wald Feld Berg Tal Bach See Moos Heide Anger Hagen Thal Hof Burg Rein Kron Adler Falken Löwen Hirsch Fuchs "
    "Wolfs Bären Ecker Gruber Mader Pichler Moser Leitner Egger Holz Eisen Kupfer Silber Gold Lauter Grün Weiden "
    "Linde Esch Ahl Dorn Haber Korn"
).split()
ENDINGS = "mann berger hauser qvist ström huber meier bauer mayr reiter ner inger ler ecker hofer stätter wald feld thaler gruber maier bichler lechner wieser rainer seder huemer kogler".split()
ORG_WORDS = (
    "Nordwind Südstern Alpen Rhein Elbe Isar Donau Ostsee Hanse Atlas Orion Vega Polaris Kristall Falke Adler "
    "Löwen Greif Blau Grün Silber Kupfer Eichen Linden Quell Brücken Turm Hafen Werk Licht Funk Netz Daten Wolke "
    "Pixel Bit Logik Nova Prima Optima Vita Terra Aqua Ignis Ventus Solar Lunar Fokus Vektor Matrix Quantum"
).split()
ORG_TRADES = (
    "Logistik Software Maschinenbau Consulting Medizintechnik Bau Immobilien Energie Handel Systeme Digital "
    "Solutions Analytics Robotics Pharma Textil Möbel Druck Verpackung Reisen Finanz Versicherung Kanzlei "
    "Architekten Elektro Sanitär Holzbau Spedition Labor Akademie"
).split()
LEGAL_FORMS = ("GmbH", "GmbH", "GmbH", "AG", "GmbH & Co. KG", "KG", "SE", "e.K.", "Ltd", "SA", "S.r.l.", "")
TLDS = ("de", "de", "de", "com", "com", "ch", "at", "eu", "io", "net")
EMAIL_PROVIDERS = ("gmail.com", "gmx.de", "web.de", "t-online.de", "outlook.com", "posteo.de")
DEAL_WORDS = ("rollout", "renewal", "pilot", "upgrade", "licences", "support contract", "expansion", "migration")
AREA_CODES = ("30", "40", "89", "221", "69", "711", "211", "351", "341", "511", "911", "228", "621", "761")


def _slug(text: str) -> str:
    table = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "ı": "i", "ş": "s", "é": "e", "ø": "o", "&": ""})
    return "".join(ch for ch in text.lower().translate(table) if ch.isalnum() or ch in ".-")


def _phone(rng: random.Random) -> str:
    """A German, Swiss or Austrian number written as people write them."""
    country = rng.choices(("49", "41", "43"), (85, 10, 5))[0]
    area = rng.choice(AREA_CODES) if country == "49" else rng.choice(("44", "31", "61") if country == "41" else ("1", "316", "662"))
    line = str(rng.randrange(100_000, 99_999_999))
    style = rng.random()
    if style < 0.45:
        return f"+{country} {area} {line}"
    if style < 0.75:
        return f"0{area} {line}"
    if style < 0.9:
        return f"+{country} ({area}) {line[:3]}-{line[3:]}"
    return f"00{country} {area} {line}"


def seed_address_book(people: int, *, seed: int = 25) -> None:
    """`people` people at people/4 organisations, their e-mail addresses and phone numbers, and
    people/2 deals with one contact each, in bulk (bench.seed._insert: COPY on PostgreSQL)."""
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import Role, User
    from bench.seed import _insert
    from pipeline.models import (
        Deal, DealContact, DealStatus, LostReason, Organization, Person, PersonEmail, PersonPhone, Pipeline, phone_digits,
    )

    rng = random.Random(seed)
    now = timezone.now()
    reps = list(User.objects.filter(role=Role.REP).order_by("pk").values_list("pk", flat=True))
    pipeline = Pipeline.objects.get(is_default=True)
    stages = list(pipeline.stages.order_by("position"))
    open_stages = [s for s in stages if s.kind == "open"]
    won_stage = next(s for s in stages if s.kind == "won")
    lost_reason = LostReason.objects.order_by("position").values_list("pk", flat=True).first()
    weights = [1 / (rank + 3) for rank in range(len(COMMON_LAST_NAMES))]

    def last_name() -> str:
        if rng.random() < COMMON_SHARE:
            return rng.choices(COMMON_LAST_NAMES, weights)[0]
        return rng.choice(STEMS) + rng.choice(ENDINGS)

    with transaction.atomic():
        organizations = []
        for i in range(max(1, people // 4)):
            kind = rng.random()
            if kind < 0.35:
                base = f"{last_name()} {rng.choice(ORG_TRADES)}"
            elif kind < 0.8:
                base = f"{rng.choice(ORG_WORDS)} {rng.choice(ORG_TRADES)}"
            else:
                base = f"{rng.choice(ORG_WORDS)}{rng.choice(ORG_WORDS).lower()}"
            name = f"{base} {rng.choice(LEGAL_FORMS)}".strip()
            domain = f"{_slug(base.replace(' ', '-'))}{'' if rng.random() < 0.7 else f'-{i}'}.{rng.choice(TLDS)}"
            domains = "" if rng.random() < 0.15 else (domain if rng.random() < 0.8 else f"{domain} {_slug(base.split()[0])}{i}.com")
            organizations.append({
                "name": name, "domains": domains, "industry": "Software", "country": "DE", "city": "Berlin",
                "owner_id": rng.choice(reps) if rng.random() < 0.9 else None, "created_at": now,
            })
        organization_ids = _insert(Organization, organizations, now=now)
        owners = dict(zip(organization_ids, (o["owner_id"] for o in organizations)))
        domains = dict(zip(organization_ids, (o["domains"].split() for o in organizations)))

        persons, emails, phones = [], [], []
        for i in range(people):
            first, last = rng.choice(FIRST_NAMES), last_name()
            at = rng.choice(organization_ids) if rng.random() < 0.95 else None
            own = [d for d in domains.get(at, [])] if at else []
            addresses = []
            if rng.random() < 0.9:
                addresses.append(f"{_slug(first)}.{_slug(last)}{'' if rng.random() < 0.8 else i}@{own[0] if own else rng.choice(EMAIL_PROVIDERS)}")
                if rng.random() < 0.2:
                    addresses.append(f"{_slug(first)[0]}{_slug(last)}{i}@{rng.choice(EMAIL_PROVIDERS)}")
            numbers = [_phone(rng) for _ in range(rng.choices((0, 1, 2), (20, 60, 20))[0])]
            persons.append({
                "name": f"{first} {last}", "organization_id": at, "owner_id": owners.get(at) if at else rng.choice(reps),
                "job_title": rng.choice(("", "CEO", "Head of Purchasing", "IT Manager", "Buyer", "CFO", "Office Manager")),
                "email": addresses[0] if addresses else "", "phone": numbers[0] if numbers else "", "created_at": now,
            })
            emails.append(addresses)
            phones.append(numbers)
        person_ids = _insert(Person, persons, now=now)
        _insert(PersonEmail, [
            {"person_id": pk, "address": address, "kind": "work", "position": n}
            for pk, addresses in zip(person_ids, emails) for n, address in enumerate(addresses)
        ], now=now)
        _insert(PersonPhone, [
            {"person_id": pk, "number": number, "digits": phone_digits(number), "kind": "work", "position": n}
            for pk, numbers in zip(person_ids, phones) for n, number in enumerate(numbers)
        ], now=now)

        people_at = {}
        for pk, row in zip(person_ids, persons):
            if row["organization_id"]:
                people_at.setdefault(row["organization_id"], []).append(pk)
        names = {pk: row["name"] for pk, row in zip(organization_ids, organizations)}
        deals, contacts = [], []
        with_people = [pk for pk in organization_ids if pk in people_at]
        for i in range(people // 2):
            at = rng.choice(with_people)
            status = rng.choices((DealStatus.OPEN, DealStatus.WON, DealStatus.LOST), (70, 15, 15))[0]
            stage = won_stage if status == DealStatus.WON else rng.choice(open_stages)
            deals.append({
                "pipeline_id": pipeline.pk, "stage_id": stage.pk, "organization_id": at,
                "title": f"{names[at].split(' ')[0]} {rng.choice(DEAL_WORDS)}",
                "amount": rng.randrange(1_000, 200_000), "currency": "EUR", "status": status,
                "owner_id": owners.get(at) or rng.choice(reps), "stage_entered_at": now, "created_at": now,
                "lost_reason_id": lost_reason if status == DealStatus.LOST else None,
                "closed_at": now if status != DealStatus.OPEN else None,
            })
            contacts.append(rng.choice(people_at[at]))
        deal_ids = _insert(Deal, deals, now=now)
        _insert(DealContact, [{"deal_id": d, "person_id": p, "role_id": None} for d, p in zip(deal_ids, contacts)], now=now)


TYPO = "typo'd name"


def targets(rep) -> dict[str, tuple[str, str, int | None]]:
    """{shape: (text, kind, id of what it must find)}: texts taken from one of the rep's people
    (a rarer last name, at an organisation with a domain, with a phone number), as people type them.
    A common last name must fill the kind's eight places instead (None)."""
    from django.db.models import Exists, OuterRef

    from pipeline.models import Organization, Person, PersonEmail, PersonPhone, phone_digits

    people = (
        Person.objects.filter(owner=rep, organization__isnull=False).exclude(organization__domains="")
        .filter(Exists(PersonPhone.objects.filter(person=OuterRef("pk"), number__startswith="+49 ")))
        .filter(Exists(PersonEmail.objects.filter(person=OuterRef("pk"))))
        .select_related("organization").order_by("pk")
    )
    target = next(p for p in people if p.name.split()[-1] not in COMMON_LAST_NAMES and len(p.name.split()[-1]) >= 8)
    first, last = target.name.split(" ", 1)
    email = target.emails.order_by("position").first().address
    digits = phone_digits(target.phones.filter(number__startswith="+49 ").first().number)  # 49 30 12345678
    national = "0" + digits[2:]
    typed_phone = f"{national[:4]} {national[4:7]} {national[7:]}"  # stored "+49 30 …", typed "030 123 …"
    typo = last[:3] + last[4:]  # a letter left out
    organization = target.organization
    return {
        "name prefix": (f"{first} {last[:-2]}", "people", target.pk),  # typing, nearly done
        "common last name": ("Koch", "people", None),  # one person in two hundred, as Müller is in Germany
        "most common last name": ("Müller", "people", None),  # one in forty: a worst case
        "e-mail": (email, "people", target.pk),
        "phone digits": (typed_phone, "people", target.pk),
        "domain": (organization.domain_list[0], "organizations", organization.pk),
        TYPO: (f"{first} {typo}", "people", target.pk),
    }


def run_one(size: int, repeat: int) -> dict:
    """In a process whose DATABASE_URL is the database to measure: migrate, seed, measure."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("SECRET_KEY", "stageflow-benchmarks-only")
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
    os.environ["AXES_ENABLED"] = "0"
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from bench.seed import bench_users
    from bench.timing import summary, timed_alternating
    from pipeline.models import Deal, Organization, Person, PersonEmail, PersonPhone

    settings.ALLOWED_HOSTS = ["testserver", "localhost"]
    call_command("migrate", verbosity=0, interactive=False)
    users = bench_users()
    start = time.perf_counter()
    seed_address_book(size)
    seed_s = time.perf_counter() - start
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    result = {
        "vendor": connection.vendor, "people": Person.objects.count(), "seed_s": round(seed_s, 1), "rows": {},
        "counts": {
            "organisations": Organization.objects.count(), "e-mail addresses": PersonEmail.objects.count(),
            "phone numbers": PersonPhone.objects.count(), "deals": Deal.objects.count(),
            "people named Müller": Person.objects.filter(name__endswith=" Müller").count(),
            "named Koch": Person.objects.filter(name__endswith=" Koch").count(),
        },
    }
    shapes = targets(users["rep"])
    for who in ("rep", "admin"):
        client = Client()
        client.force_login(users[who])
        for shape, (text, kind, expected) in shapes.items():
            url = "/search/?" + urlencode({"q": text})

            def request():
                return client.get(url, HTTP_ACCEPT="application/json")

            request()  # warm
            reset_queries()
            with CaptureQueriesContext(connection) as captured:
                response = request()
            assert response.status_code == 200, (url, response.status_code)
            found = [item["id"] for item in response.json()[kind]["results"]]
            if expected is None:
                assert len(found) == 8, f"{who}: {shape} “{text}” found only {found}"
            elif shape == TYPO and connection.vendor != "postgresql":
                pass  # only pg_trgm finds names like the text; the table says "not found"
            else:
                assert expected in found, f"{who}: {shape} “{text}” did not find {kind} {expected}: {found}"
            statements = [(q["sql"], None) for q in captured.captured_queries if "pipeline_" in q["sql"]]
            queries = len(captured.captured_queries)

            def floor():
                with connection.cursor() as cursor:
                    for sql, _ in statements:
                        cursor.execute(sql)
                        cursor.fetchall()

            times, floor_times = timed_alternating(request, floor, repeat)
            result["rows"][f"search as {who}: {shape} “{text}”"] = {
                **summary(times), "floor_ms": statistics.median(floor_times), "queries": queries,
                "bytes": len(response.content),
                "rank": "–" if expected is None else (found.index(expected) + 1 if expected in found else "not found"),
            }
    return result


def run(database_url: str, size: int, repeat: int) -> dict:
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONWARNINGS": "ignore::UserWarning"}
    env.pop("REDIS_URL", None)
    command = [sys.executable, "-m", "bench.search", "--run-one", "--people", str(size), "--repeat", str(repeat)]
    proc = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-2000:])
        raise SystemExit(f"search benchmark failed for {database_url}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_all(*, size: int, databases: list[str], repeat: int) -> list[dict]:
    from bench.__main__ import postgres_drop, postgres_url

    results = []
    workdir = tempfile.mkdtemp(prefix="stageflow-search-bench-")
    try:
        for database in databases:
            if database == "sqlite":
                url = f"sqlite:///{Path(workdir) / 'search.sqlite3'}"
            else:
                url = postgres_url()
                if url is None:
                    continue
            print(f"… search, {database}, {size:,} people", file=sys.stderr, flush=True)
            step = time.perf_counter()
            results.append(run(url, size, repeat))
            print(f"  {time.perf_counter() - step:.0f} s", file=sys.stderr, flush=True)
    finally:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
        postgres_drop()
    return results


ABOUT = (
    "Server time of `GET /search/?q=…` with `Accept: application/json` (all three kinds, 8 each), measured "
    "in-process with Django's test client, median of the runs; the floor is the same SQL statements run "
    "again through a cursor, alternating with the requests. \"found at\" is the place of the person or "
    "organisation the text was taken from among the results of its kind; \"queries\" counts the session's "
    "and the user's too. The data and the texts: bench/search.py. Where a rep's time goes: every candidate's "
    "visibility is checked (pipeline.selectors), by index lookups for a few hundred (516 Kochs), and for "
    "thousands (2,450 Müllers) by first collecting every organisation and deal the rep may see."
)


def _ms(value) -> str:
    return f"{value:,.1f}" if value >= 10 else f"{value:.2f}"


def table(results: list[dict]) -> str:
    lines = [
        "| database | people | what | median ms | p95 ms | floor ms | ratio to floor | queries | response bytes | found at |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        for name, row in result["rows"].items():
            lines.append(
                f"| {result['vendor']} | {result['people']:,} | {name} | {_ms(row['median_ms'])} | {_ms(row['p95_ms'])} | "
                f"{_ms(row['floor_ms'])} | {row['median_ms'] / row['floor_ms']:.1f}× | {row['queries']} | "
                f"{row['bytes']:,} | {row['rank']} |"
            )
    return "\n".join(lines)


def notes(results: list[dict]) -> str:
    return "\n".join(
        f"- {r['vendor']}: {r['people']:,} people seeded in {r['seed_s']:.1f} s ("
        + ", ".join(f"{what} {count:,}" for what, count in r["counts"].items()) + ")"
        for r in results
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.search")
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--databases", default="postgresql,sqlite")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--output", default=str(RESULTS / "search.md"))
    parser.add_argument("--run-one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_one:
        print(json.dumps(run_one(args.people, args.repeat)))
        return 0
    from bench.__main__ import machine

    load_before = machine()
    began = time.perf_counter()
    results = run_all(size=args.people, databases=[d.strip() for d in args.databases.split(",") if d.strip()], repeat=args.repeat)
    took = time.perf_counter() - began
    stamp = datetime.now(dt_timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    report = table(results)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(
        f"# Find anything: search benchmarks\n\n{stamp}. Machine: {load_before} at the start, {machine()} at the end. "
        f"The whole run took {took / 60:.1f} min (`python -m bench.search --people {args.people} --databases "
        f"{args.databases} --repeat {args.repeat}`).\n\n"
        + ABOUT + "\n\n" + report + "\n\n" + notes(results) + "\n"
    )
    print(report)
    print(f"\n{notes(results)}\nwhole run: {took / 60:.1f} min; written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
