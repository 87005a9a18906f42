"""Duplicate suggestions and merges at scale, against a hand-written GROUP BY.

    DATABASE_URL=postgres://.../stageflow_x python bench/duplicates.py --people 100000
    python bench/duplicates.py --people 10000            # SQLite (the file of DATABASE_URL or db.sqlite3)

Fills the database (migrated, and otherwise empty of organisations) with `--people` people at
`--people / 5` organisations, shaped like a CRM that several imports fed: about 3 % of the
organisations again under another legal form or spelling with the same domain ("Müller GmbH",
"MUELLER AG", www.), about 3 % of the people again with their e-mail in other case or their name as
"Last, First", every person with a work address, most with a phone number in national or
international format, the company switchboard on a fifth of them; owners are 20 reps in 4 teams.
Then times, alternating with the floor, the median of --repeat runs:

- the first page of organisation and people suggestions for an admin (everything visible) and for
  a manager (the visibility subqueries), through pipeline.duplicates, with their query counts;
- the floor: the same GROUP BY over the match keys written by hand, without visibility;
- a merge of two organisations (with their deals and people) and of two people, each on a fresh pair.

Prints a table and writes bench/results/duplicates.md. Not part of the test run; it writes into the
database it is given.
"""
import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "1")

# Django and the apps can be imported only after the path and settings above and django.setup():
# hence the imports below the code (E402).
import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from accounts.models import Team, User  # noqa: E402
from pipeline import duplicates, matching, merging  # noqa: E402
from pipeline.models import Deal, Organization, Person, PersonEmail, PersonPhone, Pipeline, phone_digits  # noqa: E402
from pipeline.organizations import organizations_bulk_import  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "duplicates.md"
FLOOR = """
SELECT kind, value, COUNT(*) AS n FROM pipeline_matchkey WHERE {field} IS NOT NULL
GROUP BY kind, value HAVING COUNT(*) > 1 ORDER BY n DESC, MIN({field}), kind, value LIMIT 26
"""
WORDS = ("Nord", "Süd", "Ost", "West", "Alpen", "Rhein", "Main", "Elb", "Hansa", "Berg", "Tal", "Stern", "Blau", "Grün",
         "Müller", "Schröder", "Weiß", "Groß", "Licht", "Kraft", "Daten", "Logistik", "Bau", "Technik", "Soft", "Werk",
         "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Tyrell", "Cyberdyne", "Hooli", "Vandelay")
FORMS = ("GmbH", "AG", "GmbH & Co. KG", "SE", "UG (haftungsbeschränkt)", "Ltd", "Inc.", "e.K.", "")
FIRST = ("Anna", "Bernd", "Carla", "Dieter", "Eva", "Frank", "Gül", "Hans", "Ines", "Jörg", "Katrin", "Lars", "Mia",
         "Nils", "Olga", "Paul", "Renée", "Sven", "Tanja", "Uwe")
LAST = ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann",
        "Koch", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Schwarz", "Zimmermann", "Braun", "Krüger")


def owners() -> list[User]:
    teams = [Team.objects.get_or_create(name=f"Bench team {t + 1}")[0] for t in range(4)]
    reps = []
    for i in range(20):
        user, _ = User.objects.get_or_create(username=f"bench-rep-{i + 1}", defaults={"team": teams[i % 4]})
        reps.append(user)
    manager, _ = User.objects.get_or_create(username="bench-manager", defaults={"team": teams[0], "role": "manager"})
    teams[0].manager = manager
    teams[0].save()
    admin, _ = User.objects.get_or_create(username="bench-admin", defaults={"role": "admin", "is_superuser": True})
    return reps, manager, admin


def _spelling(name: str, rng) -> str:
    """The same company as another import wrote it."""
    twin = name.upper() if rng.random() < 0.3 else name.replace("ü", "ue").replace("ö", "oe").replace("ß", "ss")
    base = twin.rsplit(" ", 1)[0] if " " in twin else twin
    return f"{base} {rng.choice(FORMS)}".strip()


def _ascii(text: str) -> str:
    return matching.fold(text).replace(" ", "-")


def _number(rng, national: bool) -> str:
    area, local = rng.choice(["30", "40", "89", "221", "69", "711"]), rng.randrange(1_000_000, 9_999_999)
    return f"0{area} {local}" if national else f"+49 {area} {local}"


def fill(n_people: int, seed: int = 7) -> None:
    if Organization.objects.exists():
        return
    rng = random.Random(seed)
    reps, _manager, admin = owners()
    n_orgs = max(2, n_people // 5)
    organizations, seen = [], set()
    while len(organizations) < n_orgs:
        words = f"{rng.choice(WORDS)}{rng.choice(WORDS).lower()} {rng.choice(WORDS)}"
        if words in seen:
            continue
        seen.add(words)
        domain = _ascii(words) + ".de"
        phone = _number(rng, rng.random() < 0.5)
        org = Organization(name=f"{words} {rng.choice(FORMS)}".strip(), domains=domain, phone=phone,
                           owner=rng.choice(reps), industry="Software")
        organizations.append(org)
        if rng.random() < 0.03:
            organizations.append(Organization(name=_spelling(org.name, rng), domains=f"www.{domain}",
                                              owner=rng.choice(reps)))
    contacts = []
    for org in organizations:
        first, last = rng.choice(FIRST), rng.choice(LAST)
        contacts.append({"name": f"{first} {last}", "email": f"{_ascii(first)}.{_ascii(last)}@{org.domains.removeprefix('www.')}",
                         "phone": org.phone if rng.random() < 0.2 else _number(rng, rng.random() < 0.5)})
    start = time.perf_counter()
    with transaction.atomic():
        created = organizations_bulk_import(organizations=organizations, actor=admin, actor_label="bench", contacts=contacts)
    people, emails, phones = [], {}, {}
    for i in range(n_people - len(created)):
        org = created[i % len(created)]
        first, last = rng.choice(FIRST), rng.choice(LAST)
        twin = rng.random() < 0.03
        name = f"{last}, {first}" if twin else f"{first} {last}"
        address = f"{_ascii(first)}.{_ascii(last)}{'' if twin else i}@{org.domain_list[0] if org.domain_list else 'example.com'}"
        people.append(Person(name=name, organization=org, owner=org.owner, email=address.lower()))
        emails[len(people) - 1] = address.upper() if twin else address.lower()
        phones[len(people) - 1] = org.phone if rng.random() < 0.2 else _number(rng, rng.random() < 0.5)
    with transaction.atomic():
        people = Person.objects.bulk_create(people, batch_size=2000)
        PersonEmail.objects.bulk_create([PersonEmail(person=p, address=emails[i].lower()) for i, p in enumerate(people)], batch_size=2000)
        PersonPhone.objects.bulk_create(
            [PersonPhone(person=p, number=phones[i], digits=phone_digits(phones[i])) for i, p in enumerate(people)], batch_size=2000
        )
        matching.people_keys_write(people, emails={p.pk: [emails[i]] for i, p in enumerate(people)},
                                   phones={p.pk: [phones[i]] for i, p in enumerate(people)}, new=True)
    pipeline = Pipeline.objects.get(is_default=True)
    stage = pipeline.stages.order_by("position").first()
    Deal.objects.bulk_create(
        [Deal(pipeline=pipeline, stage=stage, organization=o, title=f"Deal {o.pk}", owner_id=o.owner_id, amount=1000)
         for o in created], batch_size=2000,
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("VACUUM ANALYZE")  # as autovacuum would soon: statistics and the visibility map
    print(f"filled in {time.perf_counter() - start:.1f} s", file=sys.stderr)


def measure(fn, floor, repeat):
    fn()  # warm: the first run reads the pages from disk
    if floor:
        floor()
    times, floor_times = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
        if floor:
            start = time.perf_counter()
            floor()
            floor_times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), (statistics.median(floor_times) if floor_times else None)


def queries(fn) -> int:
    with CaptureQueriesContext(connection) as captured:
        fn()
    return len(captured.captured_queries)


def raw(field):
    def run():
        with connection.cursor() as cur:
            cur.execute(FLOOR.format(field=field))
            cur.fetchall()
    return run


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--merges", type=int, default=5)
    args = parser.parse_args()
    fill(args.people)
    _reps, manager, admin = owners()
    rows = []
    n_orgs, n_people = Organization.objects.count(), Person.objects.count()
    for who, user in (("admin", admin), ("manager", manager)):
        for kind, field in (("organization", "organization_id"), ("person", "person_id")):
            run = lambda user=user, kind=kind: duplicates.duplicate_suggestions(user, kind=kind)  # noqa: E731
            found = len(run()[1])
            median, floor = measure(run, raw(field) if who == "admin" else None, args.repeat)
            rows.append((f"suggestions, {'organisations' if kind == 'organization' else 'people'} ({who}), "
                         f"first page: {found}", median, floor, queries(run)))

    def merge_times(kind):
        times, count = [], 0
        pairs = duplicates.duplicate_suggestions(admin, kind=kind, per_page=args.merges * 3)[1]
        for suggestion in pairs[: args.merges]:
            start = time.perf_counter()
            with CaptureQueriesContext(connection) as captured:
                merging.records_merge(survivor=suggestion.keep, merged=suggestion.others[0], actor=admin)
            times.append((time.perf_counter() - start) * 1000)
            count = len(captured.captured_queries)
        return (statistics.median(times) if times else float("nan")), count, len(times)

    for kind, label in (("organization", "merge two organisations"), ("person", "merge two people")):
        median, count, done = merge_times(kind)
        rows.append((f"{label} (median of {done})", median, None, count))

    load = os.getloadavg()
    header = (
        f"{connection.vendor}, {n_people:,} people at {n_orgs:,} organisations, "
        f"load {load[0]:.2f} / {load[1]:.2f} on {os.cpu_count()} cores"
    )
    lines = [f"### {header}", "", "| what | median ms | floor ms | queries |", "|---|---:|---:|---:|"]
    for what, median, floor, count in rows:
        lines.append(f"| {what} | {median:,.1f} | {'' if floor is None else f'{floor:,.1f}'} | {count} |")
    print("\n".join(lines))
    RESULTS.parent.mkdir(exist_ok=True)
    previous = RESULTS.read_text() if RESULTS.exists() else "# Duplicate suggestions and merges (bench/duplicates.py)\n"
    RESULTS.write_text(previous.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
