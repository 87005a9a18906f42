"""Every lead's contact becomes a person at its organisation, its main contact and a contact on
each of its deals; nothing of a lead is lost. Also: the default contact roles, the day each
organisation became a customer, the website's domain, and history rows that named the lead."""
from django.db import migrations
from django.db.models import Min

BATCH = 1000

ROLES = [
    ("Decision maker", {"de": "Entscheider"}),
    ("Champion", {"de": "Fürsprecher"}),
    ("Economic buyer", {"de": "Budgetverantwortlicher"}),
    ("Influencer", {"de": "Beeinflusser"}),
    ("User", {"de": "Anwender"}),
    ("Blocker", {"de": "Blockierer"}),
]


def _digits(value):
    return "".join(ch for ch in value if ch.isdigit())


def _domain(website):
    value = (website or "").strip().lower().split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    return value.removeprefix("www.").strip(".")


def forwards(apps, schema_editor):
    Organization = apps.get_model("pipeline", "Organization")
    Person = apps.get_model("pipeline", "Person")
    PersonEmail = apps.get_model("pipeline", "PersonEmail")
    PersonPhone = apps.get_model("pipeline", "PersonPhone")
    Deal = apps.get_model("pipeline", "Deal")
    DealContact = apps.get_model("pipeline", "DealContact")
    DealChange = apps.get_model("pipeline", "DealChange")
    ContactRole = apps.get_model("pipeline", "ContactRole")
    Permission = apps.get_model("auth", "Permission")

    for position, (name, translations) in enumerate(ROLES):
        ContactRole.objects.get_or_create(name=name, defaults={"name_translations": translations, "position": position})

    won = dict(
        Deal.objects.filter(status="won", closed_at__isnull=False).values("organization_id")
        .annotate(first=Min("closed_at")).values_list("organization_id", "first")
    )
    last_pk = 0
    while True:
        batch = list(Organization.objects.filter(pk__gt=last_pk).order_by("pk")[:BATCH])
        if not batch:
            break
        last_pk = batch[-1].pk
        pairs = []
        for org in batch:
            if org.pk in won:
                org.customer_since = won[org.pk].date()
            domain = _domain(org.website)
            if domain:
                org.domains = domain
            name, email, phone = org.contact_name.strip(), org.contact_email.strip().lower(), org.contact_phone.strip()
            if name or email or phone:
                pairs.append((org, Person(
                    name=(name or email or phone)[:200], organization=org, owner_id=org.owner_id, email=email,
                    phone=phone, created_at=org.created_at,
                )))
        people = Person.objects.bulk_create([person for _org, person in pairs])
        PersonEmail.objects.bulk_create([PersonEmail(person=p, address=p.email) for p in people if p.email])
        PersonPhone.objects.bulk_create(
            [PersonPhone(person=p, number=p.phone, digits=_digits(p.phone)) for p in people if p.phone]
        )
        for org, person in pairs:
            org.main_contact = person
        Organization.objects.bulk_update(batch, ["main_contact", "customer_since", "domains"])
        by_org = {org.pk: person for org, person in pairs}
        DealContact.objects.bulk_create([
            DealContact(deal_id=deal_id, person=by_org[org_id], created_at=by_org[org_id].created_at)
            for deal_id, org_id in Deal.objects.filter(organization_id__in=list(by_org)).values_list("pk", "organization_id")
        ])

    DealChange.objects.filter(field="lead").update(field="organization")
    for action in ("add", "change", "delete", "view"):
        Permission.objects.filter(codename=f"{action}_lead", content_type__app_label="pipeline").update(
            codename=f"{action}_organization", name=f"Can {action} organisation"
        )


def backwards(apps, schema_editor):
    Organization = apps.get_model("pipeline", "Organization")
    DealChange = apps.get_model("pipeline", "DealChange")
    Permission = apps.get_model("auth", "Permission")
    for org in Organization.objects.exclude(main_contact=None).select_related("main_contact").iterator():
        org.contact_name, org.contact_email = org.main_contact.name, org.main_contact.email
        org.contact_phone = org.main_contact.phone
        org.save(update_fields=["contact_name", "contact_email", "contact_phone"])
    DealChange.objects.filter(field="organization").update(field="lead")
    for action in ("add", "change", "delete", "view"):
        Permission.objects.filter(codename=f"{action}_organization", content_type__app_label="pipeline").update(
            codename=f"{action}_lead", name=f"Can {action} lead"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("pipeline", "0011_people"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
