"""The e-mails of offers, as an outbox topic: written in the transaction of the change that causes
them (a send, an acceptance, a notification) and sent by the worker after it commits; written
while the broker is down, they go out when it is back (see the `outbox` app)."""
from django.db import models

from outbox.topics import Topic


class EmailKind(models.TextChoices):
    LINK = "link"  # payload: version_id, url (the customer's link, forgotten once it was sent)
    ACCEPTED_COPY = "accepted_copy"  # payload: version_id
    NOTIFICATION = "notification"  # payload: notification_id


offer_emails = Topic("offers.emails")
