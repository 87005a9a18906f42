"""Keep fit scores current: a lead is rescored when it is saved; all leads when the profile changes.

The pipeline app never imports qualification; the scores are written from here.
"""
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from pipeline.models import Lead

from . import services
from .models import Criterion, Profile


@receiver(post_save, sender=Lead, dispatch_uid="qualification.lead_saved")
def lead_saved(sender, instance: Lead, created, raw=False, update_fields=None, **kwargs):
    if raw:
        return
    if update_fields is not None and not (set(update_fields) & services.SCORED_FIELDS):
        return
    services.lead_fit_refresh(lead=instance)


@receiver(post_save, sender=Profile, dispatch_uid="qualification.profile_saved")
@receiver(post_delete, sender=Profile, dispatch_uid="qualification.profile_deleted")
@receiver(post_save, sender=Criterion, dispatch_uid="qualification.criterion_saved")
@receiver(post_delete, sender=Criterion, dispatch_uid="qualification.criterion_deleted")
def profile_changed(sender, raw=False, **kwargs):
    if raw:
        return
    services.profile_changed()
