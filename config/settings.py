"""Stageflow settings: one module, every value read from the environment.

The embedded default (no environment at all) runs on SQLite with eager Celery and an
in-memory cache. Production sets DATABASE_URL, REDIS_URL, SECRET_KEY and ALLOWED_HOSTS.
"""
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


# --- Core -----------------------------------------------------------------------------
DEBUG = env_bool("DEBUG", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it in the environment (or DEBUG=1 for local development)."
        )
    SECRET_KEY = "stageflow-insecure-development-key-never-use-in-production"
elif SECRET_KEY.startswith("CHANGE-ME") and not DEBUG:
    raise ImproperlyConfigured("SECRET_KEY still holds the example value of .env.example; set a long random one.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "crispy_forms",
    "crispy_bootstrap5",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "axes",
    "corsheaders",
    "accounts",
    "outbox",
    "currencies",
    "pipeline",
    "forecasting",
    "activities",
    "qualification",
    "imports",
    "exports",
    "offers",
    "search",
    "mail",
    "lists",
    "localization",
    "attachments",
    "api",
]

MIDDLEWARE = [
    # First, so that its time covers the other middleware too.
    "config.server_timing.ServerTimingMiddleware",
    # Whether this request's reads may use the read replica (only with DATABASE_REPLICA_URL).
    "config.replica.ReadYourWritesMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Answers nothing cross-origin unless CORS_ALLOWED_ORIGINS lists the origin (closed by default).
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Above LoginRequiredMiddleware: turns its redirect into HX-Redirect for HTMX requests.
    "accounts.middleware.HtmxLoginRedirectMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    # After authentication: a signed-in user's saved language wins over the browser's.
    "localization.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, so that it sees the outcome of the authentication backends.
    "axes.middleware.AxesMiddleware",
]

# Answers say how long the app took (Server-Timing header; config/server_timing.py).
SERVER_TIMING = env_bool("SERVER_TIMING", DEBUG)

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]

# --- Database ---------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Connections are kept between requests as on PostgreSQL (DB_CONN_MAX_AGE): opening one costs
    # about 0.8 ms per request, as much as the statements of a move.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and not env_bool("DATABASE_JIT", False):
    # PostgreSQL compiles a query to machine code when its estimated cost is high. For the board at
    # 100,000 deals that compilation took about 1 s of a 1.5 s query (bench/results/plans.md); the
    # app's queries are short, so JIT stays off unless DATABASE_JIT=1.
    options = DATABASES["default"].setdefault("OPTIONS", {})
    options["options"] = f"{options.get('options', '')} -c jit=off".strip()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# An optional read replica (config/replica.py): GET requests read from it, except for whoever
# wrote in the last REPLICA_PIN_SECONDS (longer than the replica's usual lag).
DATABASE_REPLICA_URL = os.environ.get("DATABASE_REPLICA_URL", "")
DATABASE_REPLICA_ALIAS = ""
if DATABASE_REPLICA_URL:
    DATABASE_REPLICA_ALIAS = "replica"
    DATABASES[DATABASE_REPLICA_ALIAS] = dj_database_url.parse(
        DATABASE_REPLICA_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60), conn_health_checks=True
    )
    DATABASES[DATABASE_REPLICA_ALIAS]["OPTIONS"] = dict(DATABASES["default"].get("OPTIONS", {}))
    DATABASES[DATABASE_REPLICA_ALIAS]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["config.replica.ReplicaRouter"]
REPLICA_PIN_SECONDS = env_int("REPLICA_PIN_SECONDS", 15)

# --- Cache, Celery ------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "config.cache.ResilientRedisCache",  # a Redis outage is a cache miss, not a 500
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "stageflow"),
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# The broker may live apart from the cache (CELERY_BROKER_URL); by default both use REDIS_URL.
# In-process broker of laptop mode; with a host named, kombu does not warn that none was supplied.
IN_PROCESS_BROKER = "memory://localhost/"
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or REDIS_URL or IN_PROCESS_BROKER
CELERY_RESULT_BACKEND = REDIS_URL or "cache+memory://"
# Without a broker every task runs in-process, right away (laptop mode).
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", CELERY_BROKER_URL.startswith("memory://"))
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 120
CELERY_TASK_TIME_LIMIT = 180
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker whose broker goes away reconnects with backoff (2, 4, … at most 30 s apart) for as long
# as it takes, instead of exiting after Celery's default of 100 attempts (about 48 minutes).
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# The longest hard time limit of any task (imports and qualification: 31 minutes); a test checks
# every registered task against it.
TASK_LONGEST_TIME_LIMIT = 31 * 60
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 1,
    "max_retries": 1,
    # A task a worker took but never acknowledged (the worker was killed; tasks ack late) goes
    # to another worker after this long: just past the longest time a task may run, instead of
    # Redis's default hour. Tasks waiting for a later time (retries with a countdown) may be
    # handed out twice when they wait longer than this; they are written to notice (webhooks).
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", TASK_LONGEST_TIME_LIMIT + 4 * 60),
    # Workers look for such tasks every 10 s (kombu's default: every 100 s).
    "unacked_restore_interval": 10,
    "unacked_restore_throttle": 1,
}
# A move enqueues after commit; with the broker down it must give up fast, not hang the request.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
CELERY_RESULT_EXPIRES = 60 * 60 * 24
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
# A burst of moves within this many seconds leads to one forecast recompute.
FORECAST_REFRESH_DEBOUNCE_SECONDS = env_int("FORECAST_REFRESH_DEBOUNCE_SECONDS", 5)
CELERY_TIMEZONE = os.environ.get("TIME_ZONE", "UTC")
CELERY_BEAT_SCHEDULE: dict = {}  # filled in config/schedules.py, the one place for schedules

# --- Auth -------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "pipeline:board"
LOGOUT_REDIRECT_URL = "login"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AXES_ENABLED = env_bool("AXES_ENABLED", True)
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_int("AXES_COOLOFF_MINUTES", 15) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# A password reset link is valid for one day (Django's default is three).
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT", 60 * 60 * 24)

# --- Security ---------------------------------------------------------------------------
# Every request reads the session: from the cache (memory on a laptop, Redis in production),
# with the database as the record, so a cache restart or a Redis outage signs nobody out. Like
# the other users of the cache, several server processes need the shared one (REDIS_URL).
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 60 * 60 * 12)
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    # Behind TLS in production; set SECURE_SSL_REDIRECT=0 only behind a proxy that redirects.
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # Health probes of the container platform speak plain HTTP from inside.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    # The preload directive alone changes nothing until the domain is submitted to the browsers'
    # list; offering it keeps `check --deploy` clean. SECURE_HSTS_PRELOAD=0 leaves it out.
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    if env_bool("USE_X_FORWARDED_PROTO", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Internationalisation -----------------------------------------------------------------
LANGUAGE_CODE = os.environ.get("LANGUAGE_CODE", "en")
LANGUAGES = [("en", _("English")), ("de", _("German"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["localization.formats"]
LANGUAGE_COOKIE_AGE = 60 * 60 * 24 * 365
LANGUAGE_COOKIE_SAMESITE = "Lax"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static files -------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# static_vendor/ is filled by `make assets` from the pinned npm packages; never committed.
STATICFILES_DIRS = [BASE_DIR / "static", BASE_DIR / "static_vendor"]
# Uploaded files (the attachments app) live in the storage "attachments": the local media folder by
# default, or an S3-compatible bucket through django-storages when STAGEFLOW_FILES_S3_BUCKET is set
# (credentials as boto3 reads them: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or an instance
# role). Neither is ever served from a public URL: every download goes through a view that checks
# who may see the record (attachments.views), so there is no MEDIA_URL.
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT") or BASE_DIR / "media")
FILES_S3_BUCKET = os.environ.get("STAGEFLOW_FILES_S3_BUCKET", "")
if FILES_S3_BUCKET:
    ATTACHMENTS_STORAGE = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": FILES_S3_BUCKET,
            "endpoint_url": os.environ.get("STAGEFLOW_FILES_S3_ENDPOINT_URL") or None,
            "region_name": os.environ.get("STAGEFLOW_FILES_S3_REGION") or None,
            "location": os.environ.get("STAGEFLOW_FILES_S3_PREFIX", "stageflow"),
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": True,  # names are content hashes: the same name is the same content
        },
    }
else:
    ATTACHMENTS_STORAGE = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT / "attachments", "base_url": None},
    }
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    "attachments": ATTACHMENTS_STORAGE,
}
WHITENOISE_USE_FINDERS = DEBUG

# --- Forms --------------------------------------------------------------------------------
CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# --- E-mail -------------------------------------------------------------------------------
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "stageflow@localhost")

# --- REST API ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # First, so that an anonymous client gets 401 with WWW-Authenticate rather than 403.
        "api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.ApiRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api": os.environ.get("API_RATE_LIMIT", "3600/hour")},
    "EXCEPTION_HANDLER": "api.exceptions.exception_handler",
    "DEFAULT_PARSER_CLASSES": [
        "api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Stageflow API",
    "DESCRIPTION": (
        "The Stageflow CRM: pipelines, stages, deals, moves and forecasts; organisations, people and who is on "
        "a deal; activities, notes, products and offers."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "DealStatusEnum": "pipeline.models.DealStatus",
        "KindEnum": "pipeline.models.StageKind",  # the name stages' kind had before other kinds came
        "EmailKindEnum": "pipeline.models.EmailKind",
        "PhoneKindEnum": "pipeline.models.PhoneKind",
        "ActivityKindEnum": "activities.models.ActivityKind",
        "OfferVersionStatusEnum": "offers.models.VersionStatus",
    },
}
# CORS: closed unless origins are listed (comma-separated, e.g. https://app.example.com).
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS", "")
CORS_URLS_REGEX = r"^/api/v\d+/.*$"

# --- Stageflow ------------------------------------------------------------------------------
STAGEFLOW = {
    "DEFAULT_CURRENCY": os.environ.get("STAGEFLOW_DEFAULT_CURRENCY", "EUR"),
    "CURRENCIES": env_list("STAGEFLOW_CURRENCIES", "EUR,USD,GBP,CHF"),
    # Totals, forecasts, quotas and exports are also shown converted into this currency, at dated
    # exchange rates (currencies.rates); deals keep their own currency and amount.
    "REPORTING_CURRENCY": os.environ.get("STAGEFLOW_REPORTING_CURRENCY", "EUR").upper(),
    # Open deals and quotas convert at today's rate ("today") or at the year's budget rate ("budget");
    # won deals always at the rate of their close date.
    "OPEN_DEALS_RATE": os.environ.get("STAGEFLOW_OPEN_DEALS_RATE", "today"),
    # A day without a rate (weekends, holidays) uses the latest earlier one up to this many days old;
    # older, the rate counts as missing and the amount is reported, not converted.
    "RATE_MAX_AGE_DAYS": env_int("STAGEFLOW_RATE_MAX_AGE_DAYS", 7),
    # The scheduled fetch of reference rates (config/schedules.py): off unless the installation has
    # internet access. The source is an XML file in the format of the ECB's euro reference rates.
    "RATES_FETCH_ENABLED": env_bool("STAGEFLOW_RATES_FETCH_ENABLED", False),
    "RATES_FETCH_URL": os.environ.get(
        "STAGEFLOW_RATES_FETCH_URL", "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-hist-90d.xml"
    ),
    "RATES_FETCH_TIMEOUT": env_int("STAGEFLOW_RATES_FETCH_TIMEOUT", 20),
    # Reps see their teammates' deals read-only (True) or only their own (False).
    "REPS_SEE_TEAM_DEALS": env_bool("STAGEFLOW_REPS_SEE_TEAM_DEALS", True),
    # Every signed-in user sees every organisation and person (the address book); deals keep their rules.
    "SHARED_ADDRESS_BOOK": env_bool("STAGEFLOW_SHARED_ADDRESS_BOOK", False),
    # Cards per column before "Load more": a screen shows a handful, and every card costs the page.
    "BOARD_PAGE_SIZE": env_int("STAGEFLOW_BOARD_PAGE_SIZE", 25),
    # Won deals stay in the won column until onboarding is complete or this many days passed.
    "WON_DEALS_ON_BOARD_DAYS": env_int("STAGEFLOW_WON_DEALS_ON_BOARD_DAYS", 30),
    # Imports: the largest file, the most rows, and from how many rows a worker runs the import.
    "IMPORT_MAX_BYTES": env_int("STAGEFLOW_IMPORT_MAX_BYTES", 5 * 1024 * 1024),
    "IMPORT_MAX_ROWS": env_int("STAGEFLOW_IMPORT_MAX_ROWS", 20_000),
    "IMPORT_BACKGROUND_ROWS": env_int("STAGEFLOW_IMPORT_BACKGROUND_ROWS", 200),
    # Offers: the proposal's letterhead, the discount above which a manager must approve (in %),
    # how long a customer's link works, and how often the public link may be requested.
    "COMPANY_NAME": os.environ.get("STAGEFLOW_COMPANY_NAME", "Stageflow Demo GmbH"),
    "COMPANY_LOGO": os.environ.get("STAGEFLOW_COMPANY_LOGO", "img/company-logo.png"),
    "OFFER_DISCOUNT_APPROVAL_LIMIT": env_int("STAGEFLOW_OFFER_DISCOUNT_APPROVAL_LIMIT", 15),
    "OFFER_LINK_DAYS": env_int("STAGEFLOW_OFFER_LINK_DAYS", 30),
    "OFFER_RATE_LIMIT_PER_IP": env_int("STAGEFLOW_OFFER_RATE_LIMIT_PER_IP", 60),
    "OFFER_RATE_LIMIT_PER_TOKEN": env_int("STAGEFLOW_OFFER_RATE_LIMIT_PER_TOKEN", 30),
    "OFFER_RATE_LIMIT_WINDOW": env_int("STAGEFLOW_OFFER_RATE_LIMIT_WINDOW", 600),
    # Files on deals, organisations and people: the largest file, all files of one upload together,
    # and how many files one upload may hold (refused before the body is read where the size is known).
    "FILES_MAX_BYTES": env_int("STAGEFLOW_FILES_MAX_BYTES", 25 * 1024 * 1024),
    "FILES_MAX_UPLOAD_BYTES": env_int("STAGEFLOW_FILES_MAX_UPLOAD_BYTES", 100 * 1024 * 1024),
    "FILES_MAX_COUNT": env_int("STAGEFLOW_FILES_MAX_COUNT", 20),
    # A deleted file leaves the storage this many days later (the attachments-purge schedule).
    "FILES_DELETE_GRACE_DAYS": env_int("STAGEFLOW_FILES_DELETE_GRACE_DAYS", 30),
    # Virus scan: the Unix socket of a ClamAV daemon (clamd's LocalSocket, e.g.
    # /run/clamav/clamd.ctl); empty: files are not scanned. A daemon that does not answer refuses uploads.
    "FILES_CLAMD_SOCKET": os.environ.get("STAGEFLOW_FILES_CLAMD_SOCKET", ""),
    "FILES_CLAMD_TIMEOUT": env_int("STAGEFLOW_FILES_CLAMD_TIMEOUT", 60),
    # Previews: images larger than this are refused undecoded; a PDF page gets this many seconds.
    "FILES_PREVIEW_MAX_PIXELS": env_int("STAGEFLOW_FILES_PREVIEW_MAX_PIXELS", 50_000_000),
    "FILES_PREVIEW_TIMEOUT": env_int("STAGEFLOW_FILES_PREVIEW_TIMEOUT", 20),
    # Reps' mailboxes: Fernet keys for their passwords (comma-separated, the first encrypts; without
    # one only DEBUG has a development key), the largest attachment kept (larger ones: name and
    # size only),, and how long a server may take to answer (seconds).
    "MAIL_KEYS": env_list("STAGEFLOW_MAIL_KEY", ""),
    "MAIL_ATTACHMENT_MAX_BYTES": env_int("STAGEFLOW_MAIL_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024),
    "MAIL_TIMEOUT": env_int("STAGEFLOW_MAIL_TIMEOUT", 30),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

from .schedules import CELERY_BEAT_SCHEDULE  # noqa: E402,F811  the one place for schedules
