# Stageflow image: one image for web (gunicorn), worker and beat (celery); see docker-compose.yml.

# --- Front-end packages from npm (pinned by package-lock.json); nothing third-party is committed.
FROM node:20-bookworm-slim AS node
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error

# --- The application.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# libmagic1: the type of an uploaded file, sniffed from its content; poppler-utils: PDF previews.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libmagic1 poppler-utils \
    && rm -rf /var/lib/apt/lists/*

COPY requirements/ requirements/
RUN pip install -r requirements/base.txt

COPY . .
COPY --from=node /app/node_modules node_modules
# Vendor the front-end files, compile translations and collect static files into the image,
# then drop what only the build needed.
RUN python scripts/vendor_assets.py \
    && rm -rf node_modules \
    && python scripts/compile_messages.py \
    && SECRET_KEY=image-build-only DEBUG=0 python manage.py collectstatic --noinput \
    && useradd --system --home-dir /app --shell /usr/sbin/nologin stageflow \
    && mkdir -p /app/media && chown stageflow /app/media \
    && chmod +x docker/entrypoint.sh

USER stageflow
EXPOSE 8000
ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["web"]
