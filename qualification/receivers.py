"""Keep fit scores current when the profile changes: all leads are rescored.

A single lead is scored when pipeline.leads writes it (the scorer registered in apps.py).
"""
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from . import services
from .models import Criterion, Profile


@receiver(post_save, sender=Profile, dispatch_uid="qualification.profile_saved")
@receiver(post_delete, sender=Profile, dispatch_uid="qualification.profile_deleted")
@receiver(post_save, sender=Criterion, dispatch_uid="qualification.criterion_saved")
@receiver(post_delete, sender=Criterion, dispatch_uid="qualification.criterion_deleted")
def profile_changed(sender, raw=False, **kwargs):
    if raw:
        return
    services.profile_changed()
