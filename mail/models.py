"""A rep's own mailbox and the mail Stageflow keeps from it: threads with the people, deals and
organisations they are about, their messages and attachments, and the calendar feed.

Depends on `pipeline`; the pipeline never imports this app (it shows our threads through
pipeline.extensions, registered in MailConfig.ready). Mailbox secrets are stored only encrypted
(mail.secrets); every write goes through mail.services or mail.sync.
"""
import secrets as token_source

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from pipeline.models import Deal, Organization, Person


class Security(models.TextChoices):
    SSL = "ssl", _("SSL/TLS")
    STARTTLS = "starttls", _("STARTTLS")
    NONE = "none", _("None (a local test server only)")


class AuthMethod(models.TextChoices):
    PASSWORD = "password", _("Password or app password")
    # OAuth providers (Google, Microsoft) sign in with an access token over SASL XOAUTH2; the token
    # is kept encrypted like a password. Getting and refreshing tokens is the provider's flow.
    XOAUTH2 = "xoauth2", _("OAuth access token (XOAUTH2)")


class SyncProblem(models.TextChoices):
    """What went wrong the last time, in words a rep understands."""

    AUTH = "auth", _("The server refused the user name or password.")
    CONNECT = "connect", _("Stageflow could not reach the server: check the host name and port, or the server is down.")
    TLS = "tls", _("The secure connection failed: check the security setting and the port.")
    TIMEOUT = "timeout", _("The server did not answer in time.")
    LOST = "lost", _("The connection broke off during the sync. What was read is kept; the next sync goes on from there.")
    PROTOCOL = "protocol", _("The server answered in a way Stageflow did not expect.")
    NO_KEY = "no_key", _("Mailboxes cannot be used until the administrator sets STAGEFLOW_MAIL_KEY.")
    SEND = "send", _("The outgoing server refused the message.")


class Mailbox(models.Model):
    """One user's IMAP and SMTP settings. `secret` is the password or OAuth token, encrypted."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="mailbox")
    email_address = models.EmailField(_("e-mail address"))
    imap_host = models.CharField(_("IMAP server"), max_length=255)
    imap_port = models.PositiveIntegerField(_("IMAP port"), default=993)
    imap_security = models.CharField(_("IMAP security"), max_length=8, choices=Security.choices, default=Security.SSL)
    smtp_host = models.CharField(_("SMTP server"), max_length=255)
    smtp_port = models.PositiveIntegerField(_("SMTP port"), default=587)
    smtp_security = models.CharField(_("SMTP security"), max_length=8, choices=Security.choices, default=Security.STARTTLS)
    username = models.CharField(_("user name"), max_length=255)
    auth_method = models.CharField(_("sign-in"), max_length=8, choices=AuthMethod.choices, default=AuthMethod.PASSWORD)
    secret = models.TextField(_("password (encrypted)"), editable=False)
    sent_folder = models.CharField(
        _("sent folder"), max_length=255, blank=True,
        help_text=_("Where sent mail is kept. Empty: the folder the server marks as Sent, else “Sent”."),
    )
    sync_days = models.PositiveSmallIntegerField(_("first sync: days back"), default=30)
    share_by_default = models.BooleanField(
        _("share new threads"), default=True,
        help_text=_("Shared threads are seen by whoever sees their deal; private ones only by you."),
    )
    is_active = models.BooleanField(_("sync"), default=True)
    last_sync_at = models.DateTimeField(_("last sync"), null=True, blank=True)
    problem = models.CharField(_("problem"), max_length=12, choices=SyncProblem.choices, blank=True)
    problem_at = models.DateTimeField(_("problem since"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("mailbox")
        verbose_name_plural = _("mailboxes")

    def __str__(self):
        return self.email_address


class FolderState(models.Model):
    """How far a folder is synced: the UIDVALIDITY seen and the highest UID read under it."""

    mailbox = models.ForeignKey(Mailbox, verbose_name=_("mailbox"), on_delete=models.CASCADE, related_name="folders")
    name = models.CharField(_("folder"), max_length=255)
    uidvalidity = models.BigIntegerField(_("UIDVALIDITY"), null=True)
    last_uid = models.BigIntegerField(_("last UID read"), default=0)
    synced_at = models.DateTimeField(_("synced"), null=True)

    class Meta:
        verbose_name = _("synced folder")
        verbose_name_plural = _("synced folders")
        constraints = [models.UniqueConstraint(fields=["mailbox", "name"], name="mail_folder_once")]

    def __str__(self):
        return self.name


class Thread(models.Model):
    """A conversation in one user's mailbox, about known people (and their deals and organisations)."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("owner"), on_delete=models.CASCADE, related_name="mail_threads")
    subject = models.CharField(_("subject"), max_length=500, blank=True)
    is_private = models.BooleanField(
        _("private"), default=False, help_text=_("Private: only its owner sees it. Shared: whoever sees its deal."),
    )
    last_at = models.DateTimeField(_("last message"), default=timezone.now)
    message_count = models.PositiveIntegerField(_("messages"), default=0)
    persons = models.ManyToManyField(Person, verbose_name=_("people"), related_name="mail_threads", blank=True)
    deals = models.ManyToManyField(Deal, verbose_name=_("deals"), related_name="mail_threads", blank=True)
    organizations = models.ManyToManyField(Organization, verbose_name=_("organisations"), related_name="mail_threads", blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        ordering = ["-last_at", "-pk"]
        verbose_name = _("e-mail thread")
        verbose_name_plural = _("e-mail threads")
        indexes = [models.Index(fields=["owner", "last_at"], name="mail_thread_owner_last_idx")]

    def __str__(self):
        return self.subject or str(_("(no subject)"))


class Direction(models.TextChoices):
    IN = "in", _("Received")
    OUT = "out", _("Sent")


class Message(models.Model):
    """One e-mail. `message_key` (a hash of its Message-ID) makes it unique in its owner's mail,
    whatever folder, UID or UIDVALIDITY it is read under. `body_html` is sanitised when stored."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("owner"), on_delete=models.CASCADE, related_name="+")
    thread = models.ForeignKey(Thread, verbose_name=_("thread"), on_delete=models.CASCADE, related_name="messages")
    message_key = models.CharField(_("message key"), max_length=64)
    message_id = models.CharField(_("Message-ID"), max_length=998, blank=True)
    folder = models.CharField(_("folder"), max_length=255, blank=True)
    uid = models.BigIntegerField(_("UID"), null=True)
    uidvalidity = models.BigIntegerField(_("UIDVALIDITY"), null=True)
    direction = models.CharField(_("direction"), max_length=3, choices=Direction.choices, default=Direction.IN)
    subject = models.CharField(_("subject"), max_length=500, blank=True)
    from_address = models.CharField(_("from"), max_length=320, blank=True)
    from_name = models.CharField(_("sender's name"), max_length=200, blank=True)
    to_addresses = models.JSONField(_("to"), default=list, blank=True)
    cc_addresses = models.JSONField(_("cc"), default=list, blank=True)
    sent_at = models.DateTimeField(_("sent"))
    body_text = models.TextField(_("text"), blank=True)
    body_html = models.TextField(_("HTML (sanitised)"), blank=True)
    size = models.PositiveIntegerField(_("size (bytes)"), default=0)
    created_at = models.DateTimeField(_("stored"), default=timezone.now)

    class Meta:
        ordering = ["sent_at", "pk"]
        verbose_name = _("e-mail")
        verbose_name_plural = _("e-mails")
        constraints = [models.UniqueConstraint(fields=["owner", "message_key"], name="mail_message_once")]
        indexes = [models.Index(fields=["thread", "sent_at"], name="mail_message_thread_idx")]

    def __str__(self):
        return self.subject


class AttachmentBlob(models.Model):
    """An attachment's content, stored once however many messages carry it."""

    sha256 = models.CharField(_("SHA-256"), max_length=64, unique=True)
    size = models.PositiveIntegerField(_("size (bytes)"))
    content = models.BinaryField(_("content"))

    class Meta:
        verbose_name = _("attachment content")
        verbose_name_plural = _("attachment contents")

    def __str__(self):
        return self.sha256


class Attachment(models.Model):
    message = models.ForeignKey(Message, verbose_name=_("e-mail"), on_delete=models.CASCADE, related_name="attachments")
    filename = models.CharField(_("file name"), max_length=255, blank=True)
    content_type = models.CharField(_("type"), max_length=255, blank=True)
    size = models.PositiveIntegerField(_("size (bytes)"))
    blob = models.ForeignKey(
        AttachmentBlob, verbose_name=_("content"), null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text=_("Empty when the file was larger than the limit: only its name and size are kept."),
    )

    class Meta:
        ordering = ["message", "pk"]
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")

    def __str__(self):
        return self.filename


def new_feed_token() -> str:
    return token_source.token_urlsafe(32)


class CalendarFeed(models.Model):
    """A user's private iCalendar feed of their activities. The token is the link's only
    permission; a new token revokes the old link."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="calendar_feed")
    token = models.CharField(_("token"), max_length=64, unique=True, default=new_feed_token)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("calendar feed")
        verbose_name_plural = _("calendar feeds")

    def __str__(self):
        return str(self.user)


class MailTemplate(models.Model):
    """A text reps start an e-mail from, in one language, with merge fields such as
    {{ contact_first_name }} (mail.sending.MERGE_FIELDS) filled in when it is previewed and sent."""

    name = models.CharField(_("name"), max_length=200)
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES, default="en")
    subject = models.CharField(_("subject"), max_length=500)
    body = models.TextField(_("text"))
    is_active = models.BooleanField(_("active"), default=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        ordering = ["position", "name", "pk"]
        verbose_name = _("e-mail template")
        verbose_name_plural = _("e-mail templates")

    def __str__(self):
        return f"{self.name} ({self.language})"


class Invitation(models.Model):
    """A meeting's invitation to its deal's contacts: who was invited, and the SEQUENCE of the
    version they have (each update or the cancellation is sent with the next one)."""

    activity = models.OneToOneField(
        "activities.Activity", verbose_name=_("meeting"), on_delete=models.CASCADE, related_name="invitation",
    )
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("sent by"), on_delete=models.CASCADE, related_name="+")
    attendees = models.JSONField(_("invited"), default=list)
    sequence = models.PositiveIntegerField(_("version"), default=0)
    sent_at = models.DateTimeField(_("sent"), default=timezone.now)
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)

    class Meta:
        verbose_name = _("meeting invitation")
        verbose_name_plural = _("meeting invitations")

    def __str__(self):
        return str(self.activity)
