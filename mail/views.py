"""The user's mailbox page, a thread's page and its privacy switch."""
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from pipeline import selectors as pipeline_selectors
from pipeline.models import Person, PersonEmail

from . import crypto, selectors, sending, services
from .forms import ComposeForm, MailboxForm, ThreadPrivacyForm
from .models import CalendarFeed, Mailbox, MailTemplate


@require_http_methods(["GET", "POST"])
def mailbox_settings(request):
    mailbox = Mailbox.objects.filter(user=request.user).first()
    form = MailboxForm(request.POST or None, instance=mailbox or Mailbox(user=request.user))
    if request.method == "POST" and form.is_valid():
        values = {name: form.cleaned_data[name] for name in form.Meta.fields}
        try:
            services.mailbox_save(user=request.user, values=values, secret=form.cleaned_data["secret"])
        except services.MailboxRefused as refused:
            form.add_error(None, refused.message)
        else:
            messages.success(request, _("Your mailbox settings are saved."))
            return redirect("mail:settings")
    feed = CalendarFeed.objects.filter(user=request.user).first()
    context = {
        "nav": "mail", "form": form, "mailbox": mailbox, "key_configured": crypto.is_configured(), "feed": feed,
        "feed_url": request.build_absolute_uri(reverse("mail:calendar_feed", args=[feed.token])) if feed else "",
    }
    response = render(request, "mail/settings.html", context, status=400 if form.errors else 200)
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def mailbox_sync(request):
    """Sync now: the worker's task, or in laptop mode the same work in the background thread."""
    from celery import current_app

    from config import background

    from .tasks import mail_sync

    mailbox = Mailbox.objects.filter(user=request.user).first()
    if mailbox is None:
        messages.error(request, _("Connect a mailbox first."))
    elif current_app.conf.task_always_eager:
        background.submit(services.mailbox_sync_run, mailbox.pk)
        messages.success(request, _("The sync has started; new mail appears on your deals in a moment."))
    else:
        mail_sync.delay_on_commit(mailbox.pk)
        messages.success(request, _("The sync has started; new mail appears on your deals in a moment."))
    return redirect("mail:settings")


@require_POST
def mailbox_disconnect(request):
    if services.mailbox_disconnect(user=request.user):
        messages.success(request, _("Your mailbox is disconnected; its settings and password are deleted."))
    return redirect("mail:settings")


@require_GET
def thread_detail(request, pk):
    thread = selectors.thread_for_user_or_404(request.user, pk)
    context = {
        "nav": "mail", "thread": thread, "messages_": selectors.thread_messages(thread),
        # Only the deals and people the reader may see are named (a thread may be on more).
        "deals": list(pipeline_selectors.visible_deals(request.user).filter(mail_threads=thread)),
        "persons": list(pipeline_selectors.visible_persons(request.user).filter(mail_threads=thread)),
        "is_owner": thread.owner_id == request.user.pk,
    }
    return render(request, "mail/thread.html", context)


@require_POST
def thread_privacy(request, pk):
    thread = selectors.thread_for_user_or_404(request.user, pk)
    form = ThreadPrivacyForm(request.POST)
    form.is_valid()
    try:
        services.thread_set_private(thread=thread, actor=request.user, private=form.cleaned_data.get("private", False))
    except services.MailboxRefused as refused:
        return HttpResponseForbidden(refused.message)
    if thread.is_private:
        messages.success(request, _("The thread is private: only you see it."))
    else:
        messages.success(request, _("The thread is shared: whoever sees its deal sees it."))
    return redirect("mail:thread", pk=thread.pk)


@require_http_methods(["GET", "POST"])
def compose(request, deal_pk=None, person_pk=None):
    """Write an e-mail from a deal or a person: choose a template (?template=), preview, send."""
    user = request.user
    deal = person = None
    if deal_pk is not None:
        deal = pipeline_selectors.deal_for_user_or_404(user, deal_pk, change=True)
        people = Person.objects.filter(deal_contacts__deal=deal, erased_at__isnull=True)
    else:
        person = pipeline_selectors.person_for_user_or_404(user, person_pk, change=True)
        people = Person.objects.filter(pk=person.pk)
    emails = list(PersonEmail.objects.filter(person__in=people).select_related("person").order_by("person__name", "position", "pk"))
    addresses = [(e.address, f"{e.person.name} <{e.address}>") for e in emails]
    templates = list(MailTemplate.objects.filter(is_active=True))
    chosen = next((t for t in templates if str(t.pk) == request.GET.get("template")), None)
    initial = {"subject": chosen.subject, "body": chosen.body} if chosen else {}
    form = ComposeForm(request.POST or None, initial=initial, addresses=addresses)
    preview = None
    status = 200
    if request.method == "POST" and form.is_valid():
        to = form.cleaned_data["to"]
        recipient = next((e.person for e in emails if e.address == to), person)
        values = sending.merge_values(sender=user, person=recipient, deal=deal, language=recipient.language if recipient else "")
        merged = sending.merge_message(subject=form.cleaned_data["subject"], body=form.cleaned_data["body"], values=values)
        if request.POST.get("action") == "send" and not merged.unknown:
            try:
                stored = sending.message_send(sender=user, to=to, subject=merged.subject, body=merged.body, deal=deal, person=recipient)
            except services.MailboxRefused as refused:
                form.add_error(None, refused.message)
                status = 400
            else:
                messages.success(request, _("The e-mail is sent and kept on the timeline."))
                if stored is not None:
                    return redirect("mail:thread", pk=stored.thread_id)
                return redirect(deal.get_absolute_url() if deal else person.get_absolute_url())
        preview = merged
    elif request.method == "POST":
        status = 400
    context = {
        "nav": "board" if deal else "people", "deal": deal, "person": person, "form": form, "templates": templates,
        "chosen": chosen, "preview": preview, "merge_fields": sending.MERGE_FIELDS.items(),
        "has_mailbox": Mailbox.objects.filter(user=user).exists(), "addresses": addresses,
    }
    return render(request, "mail/compose.html", context, status=status)


@login_not_required
@require_GET
def calendar_feed(request, token):
    """The user's activities as an iCalendar feed. No sign-in: the secret link is the permission."""
    from . import calendar

    feed = CalendarFeed.objects.filter(token=token).select_related("user").first()
    if feed is None or not feed.user.is_active:
        raise Http404
    response = HttpResponse(calendar.feed(feed.user, base_url=calendar.feed_base_url(request)), content_type="text/calendar; charset=utf-8")
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex"
    return response


@require_POST
def calendar_renew(request):
    services.calendar_feed_renew(user=request.user)
    messages.success(request, _("Your calendar has a new private link; the old one no longer works."))
    return redirect("mail:settings")


@require_POST
def calendar_revoke(request):
    services.calendar_feed_revoke(user=request.user)
    messages.success(request, _("Your calendar link is revoked."))
    return redirect("mail:settings")


@require_POST
def meeting_invite(request, pk):
    """Send (or send again) a meeting's invitation to its deal's contacts."""
    from activities import selectors as activity_selectors

    from . import invitations

    activity = activity_selectors.visible_activities(request.user).filter(pk=pk).select_related("deal").first()
    if activity is None:
        raise Http404
    if not activity_selectors.can_change_activity(request.user, activity):
        return HttpResponseForbidden(_("You can see this activity but not change it."))
    try:
        invitation = invitations.meeting_invite(activity=activity, actor=request.user)
    except services.MailboxRefused as refused:
        messages.error(request, refused.message)
    else:
        messages.success(request, _("The invitation is sent to %(count)s people.") % {"count": len(invitation.attendees)})
    return redirect(activity.get_absolute_url())
