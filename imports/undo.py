"""Undo an import as a whole, while nothing else has touched what it wrote.

An import remembers the organisations, people, deals and lost reasons it created
(`ImportJob.created_records`). Undoing deletes them with everything the import wrote beside them
(their history, e-mail addresses, phone numbers, deal contacts, match keys) in one transaction.
It is refused, with every reason, as soon as anyone has worked with those records since: a record
changed after the import, or anything else that refers to them (an activity, a note, an offer, a
deal or person added to an imported organisation, and whatever later kinds of records point at
them). The refusal is found from the models' relations, so a new kind of record that refers to a
deal, an organisation or a person is covered without a change here.
"""
from __future__ import annotations

from django.db import transaction
from django.db.models import ProtectedError, RestrictedError
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _, ngettext

from pipeline.models import Deal, LostReason, Organization, Person
from pipeline.signals import deals_changed

from .models import ImportJob, ImportStatus

# What an import writes beside the records themselves: deleted with them, never a reason to refuse.
WRITTEN_WITH_THE_RECORDS = {
    "pipeline.StageChange", "pipeline.DealChange", "pipeline.PersonEmail", "pipeline.PersonPhone", "pipeline.MatchKey",
}
RECORD_KINDS = {"deals": Deal, "organizations": Organization, "people": Person}


class UndoRefused(Exception):
    def __init__(self, reasons: list[str]):
        super().__init__("; ".join(reasons))
        self.reasons = reasons


def _ids(job: ImportJob) -> dict[str, list[int]]:
    records = job.created_records or {}
    return {kind: list(records.get(kind) or []) for kind in (*RECORD_KINDS, "lost_reasons")}


def _referring(model, ids: list[int], created: dict[str, set[int]]):
    """(verbose plural name, count) for each kind of record that refers to `ids` of `model` and
    was not written by the import itself."""
    for relation in model._meta.get_fields(include_hidden=True):
        if not (relation.auto_created and not relation.concrete
                and (relation.one_to_many or relation.one_to_one or relation.many_to_many)):
            continue
        related = relation.related_model
        label = related._meta.label
        if label in WRITTEN_WITH_THE_RECORDS:
            continue
        rows = related._default_manager.filter(**{f"{relation.field.name}__in": ids})
        if related is Organization and relation.field.name == "main_contact":
            rows = rows.exclude(pk__in=created["organizations"])
        elif related in (Deal, Person, Organization):
            kind = next(k for k, m in RECORD_KINDS.items() if m is related)
            rows = rows.exclude(pk__in=created[kind])
        elif label == "pipeline.DealContact":
            rows = rows.exclude(deal_id__in=created["deals"])
        count = rows.distinct().count() if relation.many_to_many else rows.count()
        if count:
            yield related._meta.verbose_name_plural, count


def undo_refusals(job: ImportJob) -> list[str]:
    """Why the import cannot be undone now; empty when it can."""
    if job.status == ImportStatus.UNDONE:
        return [_("This import has already been undone.")]
    if job.status != ImportStatus.DONE:
        return [_("Only a finished import can be undone.")]
    ids = _ids(job)
    if not any(ids[kind] for kind in RECORD_KINDS):
        return [_("This import did not record what it created, so it cannot be undone.")]
    created = {kind: set(values) for kind, values in ids.items()}
    reasons = []
    changed = {
        "deals": lambda n: ngettext("%(n)s imported deal was changed since.", "%(n)s imported deals were changed since.", n),
        "organizations": lambda n: ngettext(
            "%(n)s imported organisation was changed since.", "%(n)s imported organisations were changed since.", n),
        "people": lambda n: ngettext("%(n)s imported person was changed since.", "%(n)s imported people were changed since.", n),
    }
    for kind, model in RECORD_KINDS.items():
        if not ids[kind]:
            continue
        count = model.objects.filter(pk__in=ids[kind], updated_at__gt=job.finished_at).count()
        if count:
            reasons.append(changed[kind](count) % {"n": count})
        for what, count in _referring(model, ids[kind], created):
            reasons.append(_("%(what)s that refer to imported records: %(count)s.") % {"count": count, "what": capfirst(what)})
    return reasons


def import_undo(job: ImportJob, *, actor) -> ImportJob:
    """Delete everything the import created, in one transaction; UndoRefused with every reason
    when anything has touched it since."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        reasons = undo_refusals(job)
        if reasons:
            raise UndoRefused(reasons)
        ids = _ids(job)
        deals = Deal.objects.filter(pk__in=ids["deals"])
        pipeline_ids = sorted(set(deals.values_list("pipeline_id", flat=True)))
        deals.delete()
        Organization.objects.filter(pk__in=ids["organizations"]).update(main_contact=None)
        Person.objects.filter(pk__in=ids["people"]).delete()
        Organization.objects.filter(pk__in=ids["organizations"]).delete()
        LostReason.objects.filter(pk__in=ids["lost_reasons"], deals__isnull=True).delete()
        _created_users_remove(job)
        job.status = ImportStatus.UNDONE
        job.undone_at = timezone.now()
        job.undone_by = actor
        job.save(update_fields=["status", "undone_at", "undone_by"])
        if ids["deals"]:
            # Figures about the past change: the forecast, accuracy and time in stage recompute.
            deals_changed.publish(pipeline_ids=pipeline_ids, deal_ids=sorted(ids["deals"]), kind="deleted",
                                  past_changed=True)
    return job


def _created_users_remove(job: ImportJob) -> None:
    """The inactive users the import created for unknown owners, unless someone has invited them
    since (they signed in, or they own something now)."""
    from django.contrib.auth import get_user_model

    if not job.created_users:
        return
    users = get_user_model().objects.filter(
        username__in=job.created_users, is_active=False, last_login__isnull=True,
    ).exclude(deals__isnull=False).exclude(pk__in=Organization.objects.filter(owner__isnull=False).values("owner_id"))
    for user in users:
        try:
            with transaction.atomic():
                user.delete()
        except (ProtectedError, RestrictedError):  # still referred to: keep the inactive user
            continue
