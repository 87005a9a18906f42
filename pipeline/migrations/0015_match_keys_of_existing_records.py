"""The match keys (duplicate suggestions) of the organisations and people written before there were
keys, by the rules of pipeline.matching as they were when this migration was written."""
from django.db import migrations

BATCH_SIZE = 1000


def keys_create(apps, schema_editor):
    from pipeline.matching import FREE_MAIL_DOMAINS, MAX_LENGTH, organization_name_key, person_name_key, phone_key

    Organization = apps.get_model("pipeline", "Organization")
    Person = apps.get_model("pipeline", "Person")
    PersonEmail = apps.get_model("pipeline", "PersonEmail")
    PersonPhone = apps.get_model("pipeline", "PersonPhone")
    MatchKey = apps.get_model("pipeline", "MatchKey")

    last = 0
    while True:
        batch = list(Organization.objects.filter(pk__gt=last).order_by("pk").only("pk", "name", "domains", "phone")[:BATCH_SIZE])
        if not batch:
            break
        rows = []
        for organization in batch:
            keys = set()
            if name := organization_name_key(organization.name):
                keys.add(("name", name))
            keys |= {("domain", d[:MAX_LENGTH]) for d in organization.domains.split() if d not in FREE_MAIL_DOMAINS}
            if phone := phone_key(organization.phone):
                keys.add(("phone", phone))
            rows += [MatchKey(organization_id=organization.pk, kind=k, value=v) for k, v in sorted(keys)]
        MatchKey.objects.bulk_create(rows, batch_size=BATCH_SIZE)
        last = batch[-1].pk

    switchboards = {
        pk: key for pk, number in Organization.objects.exclude(phone="").values_list("pk", "phone") if (key := phone_key(number))
    }
    last = 0
    while True:
        batch = list(
            Person.objects.filter(pk__gt=last, erased_at__isnull=True).order_by("pk").only("pk", "name", "organization_id")[:BATCH_SIZE]
        )
        if not batch:
            break
        ids = [person.pk for person in batch]
        keys = {person.pk: set() for person in batch}
        for person_id, address in PersonEmail.objects.filter(person_id__in=ids).values_list("person_id", "address"):
            if address.strip():
                keys[person_id].add(("email", address.strip().lower()[:MAX_LENGTH]))
        organization_of = {person.pk: person.organization_id for person in batch}
        for person_id, number in PersonPhone.objects.filter(person_id__in=ids).values_list("person_id", "number"):
            # Their organisation's own number (the switchboard) is not theirs alone.
            if (key := phone_key(number)) and key != switchboards.get(organization_of[person_id]):
                keys[person_id].add(("phone", key))
        for person in batch:
            if person.organization_id and (name := person_name_key(person.name)):
                keys[person.pk].add(("name", f"{person.organization_id}:{name}"[:MAX_LENGTH]))
        MatchKey.objects.bulk_create(
            [MatchKey(person_id=pk, kind=k, value=v) for pk, found in keys.items() for k, v in sorted(found)],
            batch_size=BATCH_SIZE,
        )
        last = batch[-1].pk


class Migration(migrations.Migration):
    dependencies = [("pipeline", "0014_match_keys_and_merged_records")]

    operations = [migrations.RunPython(keys_create, migrations.RunPython.noop, elidable=True)]
