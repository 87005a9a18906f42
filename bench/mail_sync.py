"""Syncing a mailbox of 10,000 messages from a real IMAP server (Debian's Dovecot), on SQLite.

    python -m bench.mail_sync [--messages 10000] [--known-share 0.1] [--output FILE]

Dovecot is started in a throw-away directory as the tests start it (tests/mail/servers.py; it
must be installed and this must run as root). The mailbox is written straight into the user's
Maildir (Dovecot indexes it on the first SELECT): `--messages` messages, a `--known-share` of them
from one of 1,000 people in the address book, the rest from strangers; one in twenty with a 50 kB
attachment, one in five with an HTML part. Timed: the first sync (all messages within the window),
a sync with nothing new (what the beat schedule costs every five minutes), and one with 100 new
messages. Writes bench/results/mail-sync.md.
"""
import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone as dt_timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def _django(database: Path) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{database}"
    os.environ.setdefault("DEBUG", "1")
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("PYTHONWARNINGS", "ignore::UserWarning")
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _message(n: int, sender: str, to: str, rng: random.Random) -> bytes:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = sender, to, f"Message {n}"
    m["Message-ID"] = make_msgid(idstring=str(n), domain="bench.example")
    m["Date"] = format_datetime(datetime.now(dt_timezone.utc))
    m.set_content(f"Hello,\n\nthis is message {n}.\n" + "Some text of a real length. " * 40)
    if n % 5 == 0:
        m.add_alternative(f"<p>Hello,</p><p>this is <b>message {n}</b>.</p><script>x()</script>", subtype="html")
    if n % 20 == 0:
        m.add_attachment(rng.randbytes(50_000), maintype="application", subtype="pdf", filename=f"offer-{n}.pdf")
    return m.as_bytes()


def _fill(maildir: Path, start: int, count: int, known: list[str], share: float, to: str, rng: random.Random) -> int:
    new = maildir / "new"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    from_known = 0
    for n in range(start, start + count):
        if rng.random() < share:
            sender, from_known = rng.choice(known), from_known + 1
        else:
            sender = f"stranger{n}@elsewhere.example"
        (new / f"{int(time.time())}.M{n}P{os.getpid()}.bench").write_bytes(_message(n, sender, to, rng))
    shutil.chown(maildir.parent, "dovecot", "dovecot")
    for path in [maildir, *maildir.rglob("*")]:
        shutil.chown(path, "dovecot", "dovecot")
    return from_known


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--known-share", type=float, default=0.1)
    parser.add_argument("--output", default=str(RESULTS / "mail-sync.md"))
    args = parser.parse_args()
    from tests.mail.servers import dovecot_missing, remove_dovecot, start_dovecot

    reason = dovecot_missing()
    if reason:
        raise SystemExit(reason)
    workdir = Path(tempfile.mkdtemp(prefix="stageflow-bench-mail-"))
    _django(workdir / "bench.sqlite3")
    from mail import services, sync
    from mail.models import Message
    from pipeline.models import Person, PersonEmail
    from tests.factories import UserFactory

    rng = random.Random(7)
    server = start_dovecot()
    try:
        username, password = server.add_user("rep@bench.example", "secret")
        rep = UserFactory(username="bench-rep", role="rep")
        people = Person.objects.bulk_create(Person(name=f"Person {i}", owner=rep) for i in range(1000))
        known = [f"person{i}@customer.example" for i in range(1000)]
        PersonEmail.objects.bulk_create(PersonEmail(person=p, address=a) for p, a in zip(people, known))
        mailbox = services.mailbox_save(user=rep, secret=password, values={
            "email_address": username, "username": username, "imap_host": server.host, "imap_port": server.port,
            "imap_security": "none", "smtp_host": "127.0.0.1", "smtp_port": 25, "smtp_security": "none", "sync_days": 3650,
        })
        maildir = server.dir / "mail" / username
        from_known = _fill(maildir, 0, args.messages, known, args.known_share, username, rng)
        rows = []

        def timed(label):
            started = time.perf_counter()
            result = sync.mailbox_sync(mailbox)
            seconds = time.perf_counter() - started
            assert not result.problem, result.problem
            rows.append((label, seconds, result.stored, result.skipped))
            print(f"{label}: {seconds:.2f} s, {result.stored} kept, {result.skipped} passed over", file=sys.stderr)

        timed(f"first sync of {args.messages:,} messages ({from_known:,} from known people)")
        timed("sync with nothing new")
        more = _fill(maildir, args.messages, 100, known, args.known_share, username, rng)
        timed(f"sync of 100 new messages ({more} from known people)")
        assert Message.objects.count() == from_known + more
    finally:
        remove_dovecot(server)
        shutil.rmtree(workdir, ignore_errors=True)
    load = os.getloadavg()[0]
    lines = [
        "# Mail sync: a mailbox from Dovecot into SQLite",
        "",
        f"`python -m bench.mail_sync --messages {args.messages} --known-share {args.known_share}` on "
        f"{datetime.now(dt_timezone.utc):%Y-%m-%d %H:%M} UTC, load average {load:.1f} (a shared 2-core machine: "
        "timings swing 2–3× with load).",
        "",
        "| what | seconds | messages kept | passed over (nobody known) |",
        "|---|---:|---:|---:|",
        *[f"| {label} | {seconds:.2f} | {stored:,} | {skipped:,} |" for label, seconds, stored, skipped in rows],
        "",
        "Headers (From, To, Cc) are fetched for every message, whole messages only for those with a known "
        "person, in batches of 50, each stored in one transaction with the folder's position.",
    ]
    Path(args.output).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
