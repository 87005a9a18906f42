"""What makes two organisations or two people probably the same: their match keys.

Each organisation and person has a few normalised values (`MatchKey` rows), written here whenever
the services write the record, so that the database finds duplicates with one GROUP BY over an
index instead of comparing records in Python (pipeline.duplicates):

- an organisation's **name** without its legal form, in lower case, punctuation and accents folded
  ("ACME GmbH", "Acme", "acme inc." → "acme"; "Müller GmbH" and "Mueller AG" → "mueller"), each
  of its **domains** (stored normalised by the organisation service: "www.acme.de" is "acme.de"),
  except free-mail providers, and its **phone** number;
- a person's **e-mail** addresses, **phone** numbers, and their **name at their organisation**
  (word order, titles and accents folded: "Dr. Anna Müller" and "Mueller, Anna" at the same
  organisation; a name alone, at no organisation, says too little to suggest anything). A number
  that is their organisation's own (the switchboard many contacts list) is not theirs alone and is
  not a key: when an organisation's number changes, its people's keys are written again.

Phone numbers are compared by their national significant number: the digits without the country
code and without the trunk prefix 0, so "+49 30 1234567", "+49 (0)30 1234567", "0049 30 1234567"
and "030 1234567" are the same number, although their digits differ. A number in national format
is assumed to be in the country whose code the other one states; two numbers that differ only in
the country are rare enough to be worth a look. Numbers with fewer than six digits (extensions)
are not compared.

German umlauts are transliterated (ü → ue, ß → ss) before other accents are dropped (é → e), as
German systems that cannot store umlauts write them: "Müller" matches "Mueller" (not "Muller").
"""
import unicodedata

from .models import MatchKey, MatchKind, Organization, Person, PersonEmail, PersonPhone, phone_digits

BATCH_SIZE = 1000
MAX_LENGTH = 255
MIN_PHONE_DIGITS = 6

# Legal forms and their parts, as words after folding ("GmbH & Co. KG" → gmbh, co, kg).
LEGAL_FORMS = frozenset(
    """
    gmbh mbh ag kg kgaa ohg gbr ug haftungsbeschraenkt ev eg se co cokg partg
    ltd limited inc incorporated llc llp lp plc corp corporation
    sa sas sarl srl spa bv nv ab oy
    """.split()
)
# Forms of address and titles in people's names.
NAME_TITLES = frozenset("dr prof professor dipl ing mag herr frau mr mrs ms miss sir dame".split())
# Everyone's mailbox provider is nobody's company domain.
FREE_MAIL_DOMAINS = frozenset(
    """
    gmail.com googlemail.com outlook.com outlook.de hotmail.com hotmail.de live.com live.de msn.com
    yahoo.com yahoo.de ymail.com icloud.com me.com mac.com aol.com aol.de gmx.de gmx.net gmx.at gmx.ch
    web.de t-online.de freenet.de posteo.de mailbox.org mail.de arcor.de online.de proton.me
    protonmail.com protonmail.ch
    """.split()
)
# ITU-T E.164 country calling codes are prefix-free: a number starting 1 or 7 has a one-digit
# code, one starting with these two digits a two-digit code, any other a three-digit code.
TWO_DIGIT_COUNTRY_CODES = frozenset(
    """
    20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58
    60 61 62 63 64 65 66 81 82 84 86 90 91 92 93 94 95 98
    """.split()
)
_TRANSLITERATION = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "æ": "ae", "ø": "oe", "œ": "oe"})


def fold(text: str) -> str:
    """Lower case, German umlauts transliterated, other accents dropped."""
    text = (text or "").casefold().translate(_TRANSLITERATION)
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))


def _words(text: str) -> list[str]:
    # A dot joins ("e.V." → "ev", "Inc." → "inc"); any other punctuation separates words.
    text = fold(text).replace(".", "")
    return "".join(ch if ch.isalnum() else " " for ch in text).split()


def organization_name_key(name: str) -> str:
    """"ACME GmbH & Co. KG" → "acme". The words of the name without legal forms, run together
    ("Data-Soft" and "DataSoft" are one); a name that is nothing but a legal form keeps it."""
    words = _words(name)
    core = [word for word in words if word not in LEGAL_FORMS] or words
    return "".join(core)[:MAX_LENGTH]


def person_name_key(name: str) -> str:
    """"Dr. Anna Müller" and "Mueller, Anna" → "anna mueller": words without titles, in order."""
    words = _words(name)
    core = [word for word in words if word not in NAME_TITLES] or words
    return " ".join(sorted(core))[:MAX_LENGTH]


def phone_key(number: str) -> str:
    """The national significant number ("+49 (0)30 123 4567" → "301234567"); "" when too short."""
    raw = (number or "").strip()
    digits = phone_digits(raw)
    international = digits if raw.startswith("+") else digits[2:] if digits.startswith("00") else None
    if international is not None:
        code = 1 if international[:1] in ("1", "7") else 2 if international[:2] in TWO_DIGIT_COUNTRY_CODES else 3
        digits = international[code:]
    # The trunk prefix of national numbers, and the "(0)" some write after the country code.
    digits = digits.removeprefix("0")
    return digits if len(digits) >= MIN_PHONE_DIGITS else ""


def organization_keys(organization: Organization) -> set[tuple[str, str]]:
    keys = set()
    if name := organization_name_key(organization.name):
        keys.add((MatchKind.NAME, name))
    for domain in organization.domain_list:
        if domain not in FREE_MAIL_DOMAINS:
            keys.add((MatchKind.DOMAIN, domain[:MAX_LENGTH]))
    if phone := phone_key(organization.phone):
        keys.add((MatchKind.PHONE, phone))
    return keys


def person_keys(person: Person, *, emails: list[str], phones: list[str], switchboard: str = "") -> set[tuple[str, str]]:
    """`switchboard`: the phone key of the person's organisation, which is not theirs alone."""
    if person.erased_at is not None:
        return set()
    keys = {(MatchKind.EMAIL, address.strip().lower()[:MAX_LENGTH]) for address in emails if address.strip()}
    keys |= {(MatchKind.PHONE, key) for number in phones if (key := phone_key(number)) and key != switchboard}
    if person.organization_id and (name := person_name_key(person.name)):
        keys.add((MatchKind.NAME, f"{person.organization_id}:{name}"[:MAX_LENGTH]))
    return keys


def organizations_keys_write(organizations, *, new: bool = False) -> None:
    """Write the match keys of these organisations (saved) anew: one DELETE (none for `new`
    organisations) and one INSERT for any number."""
    organizations = list(organizations)
    if not organizations:
        return
    if not new:
        MatchKey.objects.filter(organization__in=[o.pk for o in organizations]).delete()
    MatchKey.objects.bulk_create(
        [
            MatchKey(organization_id=organization.pk, kind=kind, value=value)
            for organization in organizations
            for kind, value in sorted(organization_keys(organization))
        ],
        batch_size=BATCH_SIZE,
    )


def people_keys_write(people, *, emails: dict | None = None, phones: dict | None = None, new: bool = False) -> None:
    """Write the match keys of these people (saved) anew. `emails` and `phones` ({person id: list of
    addresses / numbers}) are what the caller has just stored; without them they are read."""
    people = list(people)
    if not people:
        return
    ids = [person.pk for person in people]
    if emails is None:
        emails = {}
        for person_id, address in PersonEmail.objects.filter(person__in=ids).order_by().values_list("person_id", "address"):
            emails.setdefault(person_id, []).append(address)
    if phones is None:
        phones = {}
        for person_id, number in PersonPhone.objects.filter(person__in=ids).order_by().values_list("person_id", "number"):
            phones.setdefault(person_id, []).append(number)
    organization_ids = {person.organization_id for person in people if person.organization_id}
    switchboards = {
        pk: phone_key(number)
        for pk, number in Organization.objects.filter(pk__in=organization_ids).exclude(phone="").values_list("pk", "phone")
    } if organization_ids else {}
    if not new:
        MatchKey.objects.filter(person__in=ids).delete()
    MatchKey.objects.bulk_create(
        [
            MatchKey(person_id=person.pk, kind=kind, value=value)
            for person in people
            for kind, value in sorted(person_keys(
                person, emails=emails.get(person.pk, []), phones=phones.get(person.pk, []),
                switchboard=switchboards.get(person.organization_id, ""),
            ))
        ],
        batch_size=BATCH_SIZE,
    )


def organization_people_keys_write(organization: Organization) -> None:
    """The keys of the people at an organisation whose phone number changed (its switchboard)."""
    people_keys_write(Person.objects.filter(organization=organization).order_by("pk"))


def keys_refresh_all(*, batch_size: int = BATCH_SIZE) -> int:
    """Every organisation's and person's keys, in batches (after a change of the rules above, or
    for records written before there were keys). Returns how many records were keyed."""
    done = 0
    for model, write in ((Organization, organizations_keys_write), (Person, people_keys_write)):
        last = 0
        while True:
            batch = list(model.objects.filter(pk__gt=last).order_by("pk")[:batch_size])
            if not batch:
                break
            write(batch)
            last, done = batch[-1].pk, done + len(batch)
    return done
