"""Reads of mail that depend on who asks.

A thread is always seen by its owner (the mailbox's user). A shared thread is also seen by whoever
sees one of its deals: it follows the deal's visibility rules. A shared thread on no deal (only
people and organisations) is seen as an activity on them is: by whoever sees one of its people
and the deals of its owner (pipeline.selectors.visible_colleagues). A private thread is seen by its
owner only, admins and managers included.
"""
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.http import Http404

from pipeline import selectors as pipeline_selectors

from .models import Attachment, Message, Thread

ThreadDeal = Thread.deals.through
ThreadPerson = Thread.persons.through


def visible_threads(user) -> QuerySet[Thread]:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Thread.objects.none()
    deals = pipeline_selectors.visible_deals(user).filter(pk=OuterRef("deal_id"))
    on_visible_deal = ThreadDeal.objects.filter(thread_id=OuterRef("pk")).filter(Exists(deals))
    persons = pipeline_selectors.visible_persons(user).filter(pk=OuterRef("person_id"))
    on_visible_person = ThreadPerson.objects.filter(thread_id=OuterRef("pk")).filter(Exists(persons))
    any_deal = ThreadDeal.objects.filter(thread_id=OuterRef("pk"))
    by_colleague = pipeline_selectors.visible_colleagues(user).filter(pk=OuterRef("owner_id"))
    shared = Q(is_private=False) & (
        Q(Exists(on_visible_deal)) | (~Q(Exists(any_deal)) & Q(Exists(on_visible_person)) & Q(Exists(by_colleague)))
    )
    return Thread.objects.filter(Q(owner=user) | shared)


def thread_for_user_or_404(user, pk) -> Thread:
    thread = visible_threads(user).filter(pk=pk).select_related("owner").first()
    if thread is None:
        raise Http404
    return thread


def thread_messages(thread: Thread) -> list[Message]:
    attachments = Attachment.objects.only("pk", "message_id", "filename", "size", "content_type", "blob_id")
    return list(thread.messages.prefetch_related(Prefetch("attachments", queryset=attachments)).order_by("sent_at", "pk"))


def threads_on(user, *, deal=None, person=None, organization=None, limit: int = 50) -> list[Thread]:
    """The newest threads the user sees on a deal, person or organisation: one query."""
    about = Q(deals=deal) if deal is not None else Q(persons=person) if person is not None else Q(organizations=organization)
    return list(visible_threads(user).filter(about).select_related("owner").order_by("-last_at", "-pk")[:limit])
