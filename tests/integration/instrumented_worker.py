"""A Celery worker whose forecast recompute reports its progress and can pause half-way.

Started by the fault tests as `python -m tests.integration.instrumented_worker worker ...`.
Environment:
  STAGEFLOW_TEST_TRACE         file to append "start|written|end <pid> <time>" lines to
  STAGEFLOW_TEST_PAUSE         seconds to sleep after writing the snapshot rows, still inside the
                               recompute's write transaction
  STAGEFLOW_TEST_LOCK_TIMEOUT  a shorter lock lease, so a test can watch a dead owner's lock expire
"""
import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from config.celery import app  # noqa: E402
from forecasting import services, tasks  # noqa: E402
from forecasting.models import ForecastSnapshot  # noqa: E402

TRACE = os.environ.get("STAGEFLOW_TEST_TRACE", "")
PAUSE = float(os.environ.get("STAGEFLOW_TEST_PAUSE", "0"))
if os.environ.get("STAGEFLOW_TEST_LOCK_TIMEOUT"):
    tasks.REFRESH_LOCK_LEASE = int(os.environ["STAGEFLOW_TEST_LOCK_TIMEOUT"])

real_refresh = services.forecast_refresh_pipeline


def trace(event: str) -> None:
    if TRACE:
        with open(TRACE, "a") as f:
            f.write(f"{event} {os.getpid()} {time.time():.6f}\n")


def instrumented_refresh(*, pipeline_id):
    trace("start")
    result = real_refresh(pipeline_id=pipeline_id)
    trace("end")
    return result


# The recompute computes first and then writes in one short transaction: "half-way" is inside that
# transaction, after its snapshot rows went in and before it commits.
real_bulk_create = ForecastSnapshot.objects.bulk_create


def paused_bulk_create(*args, **kwargs):
    created = real_bulk_create(*args, **kwargs)
    trace("written")
    time.sleep(PAUSE)
    return created


services.forecast_refresh_pipeline = instrumented_refresh
ForecastSnapshot.objects.bulk_create = paused_bulk_create

if __name__ == "__main__":
    app.worker_main(sys.argv[1:])
