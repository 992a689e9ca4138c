"""StemBank settings, read from the environment through the strict helpers of ``bank.env``.

With nothing set, the bank runs embedded on one machine: a SQLite file and a filesystem Celery
broker under ``var/``. ``DATABASE_URL`` switches to PostgreSQL and ``REDIS_URL`` to Redis for the
broker, results and cache. ``DEBUG=false`` is production mode and demands a real secret key and hosts.
"""

from pathlib import Path

from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from bank.env import database_from_url, env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("STEMBANK_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", True)
PRODUCTION = not DEBUG

_DEV_SECRET = "insecure-development-key-only-for-the-embedded-demo-bank-never-in-production"
SECRET_KEY = env_str("SECRET_KEY", None if PRODUCTION else _DEV_SECRET)
if PRODUCTION and (not SECRET_KEY or SECRET_KEY == _DEV_SECRET or len(SECRET_KEY) < 50):
    raise ImproperlyConfigured("Production mode (DEBUG=false) needs SECRET_KEY of 50+ characters.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"])
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("Production mode (DEBUG=false) needs ALLOWED_HOSTS.")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
CSRF_FAILURE_VIEW = "bank.views.csrf_failure"  # JSON {"detail","code"} under /api/, the HTML page elsewhere

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "simple_history",
    "bank",
    "donors",
    "lots",
    "storage",
    "qc",
    "distribution",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "bank.middleware.APIErrorsMiddleware",
    "bank.middleware.RejectUnstorableInputMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "bank.urls"
WSGI_APPLICATION = "bank.wsgi.application"

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
                "bank.context_processors.bank",
            ],
        },
    }
]

# --- Database -------------------------------------------------------------------------------
VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'stembank.sqlite3'}")
# Persistent connections in production (gunicorn); none by default: the development server opens a thread per
# request and would keep one connection per thread open.
DATABASES = {"default": database_from_url(DATABASE_URL, env_int("DB_CONN_MAX_AGE", 60 if PRODUCTION else 0, minimum=0))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis / Celery / cache -----------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    # Embedded default: kombu's filesystem transport, so a laptop runs web, worker and beat with no servers.
    _broker_dir = VAR_DIR / "celery" / "broker"
    _broker_dir.mkdir(parents=True, exist_ok=True)
    (VAR_DIR / "celery" / "results").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "control_folder": str(VAR_DIR / "celery" / "control"),
    }
    (VAR_DIR / "celery" / "control").mkdir(parents=True, exist_ok=True)
    CELERY_RESULT_BACKEND = f"file://{VAR_DIR / 'celery' / 'results'}"
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# The scheduled work of the bank. Each entry is a task that claims its own work safely.
CELERY_BEAT_SCHEDULE: dict = {
    # qc: daily stability re-checks at 22:00 UTC (06:00 in Asia/Shanghai, before the day shift).
    "qc-open-due-rechecks": {"task": "qc.tasks.open_due_rechecks", "schedule": crontab(minute=0, hour=22)},
    # Storage: raise sensor_silent for tanks whose sensor stopped posting (and sweep unsent alarm mail).
    "storage-check-silent-sensors": {"task": "storage.tasks.check_silent_sensors", "schedule": 60.0},
}

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = ["bank.auth.LockoutModelBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"
# 21 CFR 11.300(d): repeated failed logins or signatures lock the account for a while.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_FAILURE_WINDOW_MINUTES = env_int("LOGIN_FAILURE_WINDOW_MINUTES", 15, minimum=1)
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600, minimum=300)

# --- i18n -----------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = env_str("TIME_ZONE", "Asia/Shanghai")
USE_TZ = True

# --- Static ---------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns at start-up when it is missing (before collectstatic)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- E-mail ---------------------------------------------------------------------------------
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "stembank@localhost")

# --- Production hardening -------------------------------------------------------------------
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
    X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# --- REST framework -------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: an anonymous API call then gets 401 with WWW-Authenticate, not 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "bank.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "bank.api.errors.exception_handler",
    # Refuses unpaired surrogates and over-deep nesting with 400 (bank/api/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "bank.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DATE_FORMAT": "%Y-%m-%d",
    "DATE_INPUT_FORMATS": ["%Y-%m-%d"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "StemBank API",
    "DESCRIPTION": "The public REST contract of StemBank, a LIMS for stem cell banks.",
    "VERSION": "1.0.0",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Bank networks are closed: Swagger UI is served from the installed sidecar package, never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "LotStatusEnum": "lots.choices.LotStatus",
        "VialStatusEnum": "lots.choices.VialStatus",
        # Several models have a "kind": give each choice set its own schema name.
        "StorageUnitKindEnum": "storage.choices.UnitKind",
        "VialMoveKindEnum": "storage.choices.MoveKind",
        "AlarmKindEnum": "storage.choices.AlarmKind",
        "AlarmStatusEnum": "storage.choices.AlarmStatus",
        "DeviationStatusEnum": "qc.choices.DeviationStatus",
        "RecheckStatusEnum": "qc.choices.RecheckStatus",
    },
}

# --- The bank -------------------------------------------------------------------------------
BANK_NAME = env_str("BANK_NAME", "StemBank demo bank")
# Where users reach StemBank, e.g. https://lims.bank.example: e-mails carry links that open the record.
SITE_URL = env_str("SITE_URL", "").rstrip("/")
# Prefix of every barcode the bank prints (vials, boxes, lots): keeps two banks' tubes apart.
BARCODE_PREFIX = env_str("BARCODE_PREFIX", "SB")
# hPSCreg institute code used in iPSC/ESC line names, e.g. SCB -> SCBi001-A.
INSTITUTE_CODE = env_str("INSTITUTE_CODE", "SCB")
# Lot number pattern: {tier}, {line}, {year}, {seq:04d} are filled in.
LOT_NUMBER_PATTERN = env_str("LOT_NUMBER_PATTERN", "{tier}-{year}-{seq:04d}")
# Label size for the printable lot label sheet (inches) — a common cryo label is 1.28" x 0.5".
LABEL_WIDTH_IN = env_float("LABEL_WIDTH_IN", 1.28)
LABEL_HEIGHT_IN = env_float("LABEL_HEIGHT_IN", 0.5)
# Lots: the biggest freeze one lot may hold; the page size of the label sheet (A4 or letter) and the
# resolution of the Zebra printer the ZPL file is made for (203, 300 or 600 dpi).
LOT_MAX_VIALS = env_int("LOT_MAX_VIALS", 5000, minimum=1)
LABEL_SHEET_PAGE = env_str("LABEL_SHEET_PAGE", "A4")
LABEL_PRINTER_DPI = env_int("LABEL_PRINTER_DPI", 300, minimum=100)
# Donor collections received later than this after collection are flagged.
COLLECTION_TRANSPORT_LIMIT_HOURS = env_int("COLLECTION_TRANSPORT_LIMIT_HOURS", 48, minimum=1)
# Storage
MIRROR_STORAGE_MCB = env_bool("MIRROR_STORAGE_MCB", False)
STORAGE_CAPACITY_WARNING_PCT = env_int("STORAGE_CAPACITY_WARNING_PCT", 90, minimum=1)
SENSOR_SILENT_MINUTES = env_int("SENSOR_SILENT_MINUTES", 30, minimum=1)
# QC / stability
STABILITY_INTERVAL_DAYS = env_int("STABILITY_INTERVAL_DAYS", 365, minimum=1)
RECHECK_OVERDUE_DAYS = env_int("RECHECK_OVERDUE_DAYS", 30, minimum=1)
# Distribution
MIN_MCB_STOCK = env_int("MIN_MCB_STOCK", 0, minimum=0)
REQUEST_FEE_PER_VIAL = env_str("REQUEST_FEE_PER_VIAL", "0")
REQUEST_FEE_CURRENCY = env_str("REQUEST_FEE_CURRENCY", "CNY")
