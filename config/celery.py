"""The Celery application. Configuration comes from Django settings (CELERY_* keys)."""
import logging
import os

from celery import Celery, bootsteps

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("stageflow")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

logger = logging.getLogger(__name__)


class OutboxSweepOnConnect(bootsteps.StartStopStep):
    """Each time a worker's consumer (re)connects to the broker, it asks for an outbox sweep.

    The consumer's steps start again after every reconnect, so what was written while the broker
    or this worker was away (follow-ups whose after-commit dispatch could not be enqueued) is
    carried out as soon as the worker is back, instead of at beat's next tick. Without a grace
    period: a message whose own dispatch is also on its way is run once (the dispatch locks it).
    """

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def start(self, c):
        try:
            c.app.send_task("outbox.tasks.outbox_sweep", kwargs={"grace_seconds": 0}, expires=5 * 60)
        except Exception:
            # Never stop the consumer over it: beat's periodic sweep comes anyway.
            logger.warning("Could not ask for an outbox sweep after connecting to the broker.", exc_info=True)


app.steps["consumer"].add(OutboxSweepOnConnect)
