#!/bin/sh
# Entry point of the Stageflow image: `web`, `worker`, `beat`, `migrate`, or any command.
set -eu

case "${1:-web}" in
    migrate)
        exec python manage.py migrate --noinput
        ;;
    web)
        # Migrations run on start (idempotent); in docker-compose the `migrate` service has
        # already applied them, so this is a no-op there.
        if [ "${MIGRATE_ON_START:-1}" = "1" ]; then
            python manage.py migrate --noinput
        fi
        exec gunicorn config.wsgi:application \
            --bind "0.0.0.0:${PORT:-8000}" \
            --workers "${WEB_CONCURRENCY:-3}" \
            --threads "${WEB_THREADS:-2}" \
            --timeout "${WEB_TIMEOUT:-60}" \
            --access-logfile - \
            --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-127.0.0.1}"
        ;;
    worker)
        exec celery -A config worker --loglevel="${LOG_LEVEL:-INFO}" --concurrency="${CELERY_CONCURRENCY:-2}"
        ;;
    beat)
        # Exactly one beat per deployment; its state file is scratch, schedules live in config/schedules.py.
        exec celery -A config beat --loglevel="${LOG_LEVEL:-INFO}" --schedule=/tmp/celerybeat-schedule
        ;;
    *)
        exec "$@"
        ;;
esac
