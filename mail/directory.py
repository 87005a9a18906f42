"""What merges, data exports and erasures of people and organisations do with mail (pipeline.merging,
pipeline.privacy), registered in MailConfig.ready."""
from pipeline.models import MergedKind

from .models import Message, Thread


def merge_move(*, kind: str, source, target, actor=None) -> dict[str, int]:
    """Threads on the merged organisation or person are on the survivor now."""
    through = Thread.organizations.through if kind == MergedKind.ORGANIZATION else Thread.persons.through
    field = "organization_id" if kind == MergedKind.ORGANIZATION else "person_id"
    threads = set(through.objects.filter(**{field: source.pk}).values_list("thread_id", flat=True))
    already = set(through.objects.filter(**{field: target.pk}, thread_id__in=threads).values_list("thread_id", flat=True))
    through.objects.bulk_create([through(thread_id=t, **{field: target.pk}) for t in threads - already])
    through.objects.filter(**{field: source.pk}).delete()
    return {Thread._meta.label_lower: len(threads)} if threads else {}  # a merge without mail reports none


def person_erase(*, person) -> dict[str, int]:
    """The mail with the person is deleted: threads that were only about them entirely; on threads
    with other people too, the messages they sent or received. The person is off every thread."""
    addresses = {a.lower() for a in person.emails.values_list("address", flat=True)}
    if person.email:
        addresses.add(person.email.lower())
    thread_ids = list(Thread.persons.through.objects.filter(person_id=person.pk).values_list("thread_id", flat=True))
    Thread.persons.through.objects.filter(person_id=person.pk).delete()
    alone = Thread.objects.filter(pk__in=thread_ids, persons__isnull=True)
    deleted_threads = alone.count()
    alone.delete()
    deleted_messages = 0
    for message in Message.objects.filter(thread_id__in=thread_ids).only("pk", "from_address", "to_addresses", "cc_addresses"):
        if addresses & {message.from_address, *message.to_addresses, *message.cc_addresses}:
            message.delete()
            deleted_messages += 1
    return {Thread._meta.label_lower: deleted_threads, Message._meta.label_lower: deleted_messages}


def person_export(*, person) -> dict[str, list[dict]]:
    messages = Message.objects.filter(thread__persons=person).order_by("sent_at", "pk")
    return {
        "e-mails": [
            {
                "id": m.pk, "subject": m.subject, "from": m.from_address, "to": m.to_addresses, "cc": m.cc_addresses,
                "sent_at": m.sent_at.isoformat(), "text": m.body_text,
            }
            for m in messages
        ],
    }
