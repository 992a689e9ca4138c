"""StemBank settings, read from the environment through the strict helpers of ``bank.env``.

With nothing set, the bank runs embedded on one machine: a SQLite file and a filesystem Celery
broker under ``var/``. ``DATABASE_URL`` switches to PostgreSQL and ``REDIS_URL`` to Redis for the
broker, results and cache. ``DEBUG=false`` is production mode and demands a real secret key and hosts.
"""

import os
import re
from datetime import timedelta
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
    "knox",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "csp",
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
    "cordblood",  # issue 12: mother and infant, processing, units, listing, family storage
    "transplant",  # issue 12: transplant centres, patients, search, reservation, release, follow-up
    "haplobank",  # issue 14: population HLA tables, coverage, planning, match search
    "quality",  # issue 16: SOPs, training, equipment, materials; gates on bench work
    "imports",  # issue 17: migration imports of an existing inventory (CSV/XLSX)
    "labels",  # issue 17: labels for vial selections, boxes and lots; printer profiles (pages, API, jobs)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",  # Content-Security-Policy (CONTENT_SECURITY_POLICY, issue 11 operations)
    "django_permissions_policy.PermissionsPolicyMiddleware",  # Permissions-Policy (PERMISSIONS_POLICY)
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
# Issue 13, past one database: a streaming read replica of the same PostgreSQL. Only the reads of the views named
# in REPLICA_READ_VIEWS (the catalog and the traces: read-mostly, a second of lag is harmless) go to it, and
# only for their own apps' tables (sessions, users, tokens and lockouts stay on the primary); every write and
# every other read goes to "default" (bank/db_router.py). Tests mirror it onto the default test database.
DATABASE_REPLICA_URL = env_str("DATABASE_REPLICA_URL", "")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = {**database_from_url(DATABASE_REPLICA_URL, DATABASES["default"].get("CONN_MAX_AGE", 0)),
                            "TEST": {"MIRROR": "default"}}
    if DATABASES["replica"]["ENGINE"] != DATABASES["default"]["ENGINE"]:
        raise ImproperlyConfigured("DATABASE_REPLICA_URL must be a replica of DATABASE_URL (the same engine).")
DATABASE_ROUTERS = ["bank.db_router.ReplicaRouter"]
REPLICA_APPS = env_list("REPLICA_APPS", ["donors", "lots", "storage", "qc", "distribution", "cordblood",
                                         "transplant"])
REPLICA_READ_VIEWS = env_list("REPLICA_READ_VIEWS", [
    "distribution:catalog", "distribution:catalog-line", "distribution:trace", "distribution:trace-vial",
    "distribution:trace-donor", "distribution:trace-lot",
    "api-catalog", "api-catalog-entry", "api-trace-vial", "api-trace-donor", "api-trace-lot",
])
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
    # Storage: delete raw readings past READINGS_RAW_RETENTION_DAYS (never an alarm's), 03:40 Shanghai.
    "storage-purge-expired-readings": {"task": "storage.tasks.purge_expired_readings",
                                       "schedule": crontab(minute=40, hour=19)},
    # --- issue 11 entries: each area adds its own line below, one per line -----------------------------
    "bank-worker-heartbeat": {"task": "bank.tasks.worker_heartbeat", "schedule": 30.0, "options": {"expires": 25}},
    "bank-sweep-outbox": {"task": "bank.tasks.sweep_outbox", "schedule": 30.0, "options": {"expires": 25}},
    "bank-prune-outbox": {"task": "bank.tasks.prune_outbox", "schedule": crontab(minute=30, hour=19)},
    "bank-sweep-jobs": {"task": "bank.tasks.sweep_jobs", "schedule": 60.0, "options": {"expires": 55}},
    "bank-seal-audit-chain": {"task": "bank.tasks.seal_audit_chain", "schedule": 60.0, "options": {"expires": 55}},
    "bank-audit-checkpoint": {"task": "bank.tasks.audit_checkpoint", "schedule": crontab(minute=15, hour=16)},
    "bank-purge-expired-tokens": {"task": "bank.tasks.purge_expired_tokens", "schedule": crontab(minute=45, hour=18)},
    # issue 12, transplant: free expired reservations (hourly); remind centres of follow-ups (08:30 Shanghai).
    "transplant-expire-reservations": {"task": "transplant.tasks.expire_reservations", "schedule": crontab(minute=5)},
    "transplant-remind-follow-ups": {"task": "transplant.tasks.remind_follow_ups",
                                     "schedule": crontab(minute=30, hour=0)},
    # Cord blood (issue 12): temporarily unavailable units come back to "available" after their end date.
    "cordblood-end-temporary-unavailability": {"task": "cordblood.tasks.end_temporary_unavailability",
                                               "schedule": crontab(minute=5, hour=16)},
    # Issue 16, quality: remind trainees of expiring trainings and QA of calibrations falling due (07:00 Shanghai).
    "quality-send-reminders": {"task": "quality.tasks.send_reminders", "schedule": crontab(minute=0, hour=23)},
}

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "bank.auth.MinimumLengthValidator"},  # PASSWORD_MIN_LENGTH (issue 11 block below)
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
# Uploaded and generated files go through Django's storage API (django.core.files.storage.default_storage and
# FileFields), never to a web process's own disk: local files under MEDIA_ROOT by default (one host, or a volume
# shared by the hosts); an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, OSS...) when STORAGE_S3_BUCKET is set,
# which every web process and worker on every host sees alike (issue 13). Private objects, signed URLs, and a
# name already taken is never overwritten.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "media/"
STORAGE_S3_BUCKET = env_str("STORAGE_S3_BUCKET", "")
if STORAGE_S3_BUCKET:
    _s3 = {
        "bucket_name": STORAGE_S3_BUCKET,
        "endpoint_url": env_str("STORAGE_S3_ENDPOINT_URL", "") or None,  # empty: AWS itself
        "region_name": env_str("STORAGE_S3_REGION", "") or None,
        # Empty keys: boto3's own chain (instance role, AWS_* variables, ~/.aws).
        "access_key": env_str("STORAGE_S3_ACCESS_KEY", "") or None,
        "secret_key": env_str("STORAGE_S3_SECRET_KEY", "") or None,
        "location": env_str("STORAGE_S3_PREFIX", "").strip("/"),
        "addressing_style": env_str("STORAGE_S3_ADDRESSING_STYLE", "") or None,  # "path" for most MinIO set-ups
        "default_acl": None,  # the bucket's own policy: private
        "querystring_auth": True,
        "querystring_expire": env_int("STORAGE_S3_URL_EXPIRE_SECONDS", 300, minimum=1),
        "file_overwrite": False,
    }
    if bool(_s3["access_key"]) != bool(_s3["secret_key"]):
        raise ImproperlyConfigured("Set both STORAGE_S3_ACCESS_KEY and STORAGE_S3_SECRET_KEY, or neither.")
    if _s3["addressing_style"] not in (None, "path", "virtual", "auto"):
        raise ImproperlyConfigured("STORAGE_S3_ADDRESSING_STYLE is path, virtual or auto.")
    _default_storage = {"BACKEND": "storages.backends.s3.S3Storage",
                        "OPTIONS": {k: v for k, v in _s3.items() if v is not None}}
else:
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage",
                        "OPTIONS": {"location": str(MEDIA_ROOT), "file_permissions_mode": 0o640}}
STORAGES = {
    "default": _default_storage,
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
    SECURE_REDIRECT_EXEMPT = [r"^healthz(/ready)?$"]  # container health checks speak plain HTTP
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
        "bank.api.authentication.TokenAuthentication",  # django-rest-knox: hashed, expiring tokens
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
        # issue 12, cord blood
        "VialKindEnum": "lots.choices.VialKind",
        "CordBloodListingStatusEnum": "cordblood.choices.ListingStatus",
        "CordBloodAcceptanceEnum": "cordblood.choices.Acceptance",
        "FamilyContractStatusEnum": "cordblood.choices.ContractStatus",
        "ArrivalConditionEnum": "transplant.choices.ArrivalCondition",
        "AdverseEventKindEnum": "transplant.choices.AdverseEventKind",
        # issue 16, quality
        "EquipmentKindEnum": "quality.choices.EquipmentKind",
        "CalibrationKindEnum": "quality.choices.CalibrationKind",
        "MaterialKindEnum": "quality.choices.MaterialKind",
        "MaterialStatusEnum": "quality.choices.MaterialStatus",
        # A line's grade (research, clinical) and a cleanroom's GMP grade (A-D) are both "grade".
        "GradeEnum": "lots.choices.Grade",
        "CleanroomGradeEnum": "quality.choices.GMPGrade",
        # issue 17: a label file's format (pdf, zpl) beside the rack scanner's file formats
        "LabelFileFormatEnum": "bank.labels.FORMAT_CHOICES",
        "RackScanFormatEnum": "storage.rackscan.FORMATS",
        "ImportKindEnum": "imports.choices.ImportKind",
        "ImportRunStatusEnum": "imports.choices.RunStatus",
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
# issue 17: more labels than this in one print go to a job (progress bar, the file downloaded from the job page);
# one selection or sheet holds at most LABEL_SELECTION_MAX labels.
LABEL_JOB_THRESHOLD = env_int("LABEL_JOB_THRESHOLD", 300, minimum=1)
LABEL_SELECTION_MAX = env_int("LABEL_SELECTION_MAX", 100000, minimum=1)
# Donor collections received later than this after collection are flagged.
COLLECTION_TRANSPORT_LIMIT_HOURS = env_int("COLLECTION_TRANSPORT_LIMIT_HOURS", 48, minimum=1)
# Issue 16, quality gates (quality/gates.py). Adoption step by step: a gate applies where its record exists (an SOP
# governs the activity, an instrument or material is cited) unless made required here. QUALITY_REQUIRE_SOP_FOR lists
# activities (collection_receipt, passage, freeze, thaw, qc_result, storage_move, ship) refused without an approved SOP.
QUALITY_REQUIRE_SOP_FOR = env_list("QUALITY_REQUIRE_SOP_FOR", [])
QUALITY_REQUIRE_INSTRUMENT = env_bool("QUALITY_REQUIRE_INSTRUMENT", False)  # QC results and freezes cite equipment
QUALITY_REQUIRE_MATERIALS = env_bool("QUALITY_REQUIRE_MATERIALS", False)  # passages and freezes cite material lots
# Reminders (beat): trainings expiring and calibrations falling due within this many days.
QUALITY_REMINDER_DAYS = env_int("QUALITY_REMINDER_DAYS", 30, minimum=1)
# Issue 15: a collection needs an ethics approval valid on its collection date (409 no_ethics_approval).
REQUIRE_ETHICS_APPROVAL = env_bool("REQUIRE_ETHICS_APPROVAL", True)
# Issue 15: transport of a collection per tissue, checked at receipt and at every custody hand-over: temperature
# from min_c to max_c (°C) and at most max_hours from collection (a tissue without max_hours: the bank-wide
# COLLECTION_TRANSPORT_LIMIT_HOURS; a tissue not listed: no temperature limit). Outside them QA gets a deviation.
# The environment may give a JSON object merged over these, e.g. '{"skin": {"min_c": 2, "max_c": 8, "max_hours": 24}}'.
COLLECTION_TRANSPORT_LIMITS = {
    "cord_blood": {"min_c": 2, "max_c": 25},
    "umbilical_cord": {"min_c": 2, "max_c": 8},
    "placenta": {"min_c": 2, "max_c": 8},
    "amnion": {"min_c": 2, "max_c": 8},
    "adipose": {"min_c": 2, "max_c": 25},
    "bone_marrow": {"min_c": 2, "max_c": 25},
    "peripheral_blood": {"min_c": 2, "max_c": 25},
    "menstrual_blood": {"min_c": 2, "max_c": 25, "max_hours": 72},
    "dental_pulp": {"min_c": 2, "max_c": 8},
    "skin": {"min_c": 2, "max_c": 8},
    "endometrium": {"min_c": 2, "max_c": 8},
    "muscle": {"min_c": 2, "max_c": 8},
    "neural_tissue": {"min_c": 2, "max_c": 8, "max_hours": 24},
}
if os.environ.get("COLLECTION_TRANSPORT_LIMITS", "").strip():
    import json as _json

    try:
        _limits = _json.loads(os.environ["COLLECTION_TRANSPORT_LIMITS"])
        if not isinstance(_limits, dict) or not all(
                isinstance(v, dict) and set(v) <= {"min_c", "max_c", "max_hours"}
                and all(isinstance(x, int | float) for x in v.values()) for v in _limits.values()):
            raise ValueError("give {tissue: {min_c, max_c, max_hours}} with numbers")
    except ValueError as exc:
        raise ImproperlyConfigured(f"COLLECTION_TRANSPORT_LIMITS is not valid: {exc}") from exc
    COLLECTION_TRANSPORT_LIMITS = {**COLLECTION_TRANSPORT_LIMITS, **_limits}
# Storage
MIRROR_STORAGE_MCB = env_bool("MIRROR_STORAGE_MCB", False)
STORAGE_CAPACITY_WARNING_PCT = env_int("STORAGE_CAPACITY_WARNING_PCT", 90, minimum=1)
# Evacuating a unit with this many boxes or more runs as a job in the worker, with a progress bar (issue 17).
STORAGE_EVACUATE_JOB_BOXES = env_int("STORAGE_EVACUATE_JOB_BOXES", 20, minimum=1)
SENSOR_SILENT_MINUTES = env_int("SENSOR_SILENT_MINUTES", 30, minimum=1)
# Temperature readings (docs/scaling.md, "Temperature readings"). Raw readings are records: they are kept this
# many days (default ten years: the longest common minimum for quality records of cells and tissues for human use;
# 0 keeps them for ever), then deleted by a daily beat task, leaving their exact hourly and daily summaries
# (min, max, mean, count) for ever. Readings an alarm needs — from READINGS_ALARM_MARGIN_HOURS before the alarm
# until that long after its acknowledgement — are never deleted.
READINGS_RAW_RETENTION_DAYS = env_int("READINGS_RAW_RETENTION_DAYS", 3653, minimum=0)
READINGS_ALARM_MARGIN_HOURS = env_int("READINGS_ALARM_MARGIN_HOURS", 24, minimum=1)
# QC / stability
STABILITY_INTERVAL_DAYS = env_int("STABILITY_INTERVAL_DAYS", 365, minimum=1)
RECHECK_OVERDUE_DAYS = env_int("RECHECK_OVERDUE_DAYS", 30, minimum=1)
# Distribution
MIN_MCB_STOCK = env_int("MIN_MCB_STOCK", 0, minimum=0)
# Sharing (issue 15): a vial's fee is the line's fee, else its grade's, else the bank's default for the requesting
# institution's type (QA sets line and grade fees on the fees page). Public institutions share free by default,
# enterprises pay. REQUEST_FEE_PER_VIAL (the one flat fee before issue 15) is deprecated: when set, it is the
# public default unless REQUEST_FEE_PUBLIC_PER_VIAL is set.
REQUEST_FEE_PER_VIAL = env_str("REQUEST_FEE_PER_VIAL", "0")
REQUEST_FEE_PUBLIC_PER_VIAL = env_str("REQUEST_FEE_PUBLIC_PER_VIAL", REQUEST_FEE_PER_VIAL)
REQUEST_FEE_ENTERPRISE_PER_VIAL = env_str("REQUEST_FEE_ENTERPRISE_PER_VIAL", "500.00")
REQUEST_FEE_CURRENCY = env_str("REQUEST_FEE_CURRENCY", "CNY")
# The bank's country (ISO 3166-1 alpha-2): a request to a recipient elsewhere ships only with a Human Genetic
# Resources export approval valid on the shipping date.
BANK_COUNTRY = env_str("BANK_COUNTRY", "CN").strip().upper()
# Cord blood (issue 12): acceptance thresholds for processing and the collection-to-freeze window.
CORDBLOOD_MIN_VOLUME_ML = env_int("CORDBLOOD_MIN_VOLUME_ML", 60, minimum=1)
CORDBLOOD_MIN_TNC = env_int("CORDBLOOD_MIN_TNC", 900_000_000, minimum=1)
CORDBLOOD_FREEZE_WINDOW_HOURS = env_int("CORDBLOOD_FREEZE_WINDOW_HOURS", 48, minimum=1)
# The bank's ISBT 128 facility identification number (FIN), the first five characters of every DIN.
CORDBLOOD_DIN_FACILITY = env_str("CORDBLOOD_DIN_FACILITY", "W0000")
# Issue 15, coding (bank/coding.py): the facility of every DIN the bank assigns (cord blood units and
# clinical-grade lots share one number family); the CORDBLOOD_ name above is its older spelling.
ISBT_FACILITY_CODE = env_str("ISBT_FACILITY_CODE", CORDBLOOD_DIN_FACILITY).strip().upper()
# The EU Single European Code: the EU tissue establishment code (ISO country code + 6-character establishment
# number, e.g. IT000A12; empty: the bank is not an EU tissue establishment and prints no SEC) and the product code
# per cell type ("CB-HSC=A0000000,UC-MSC=E0000000": coding system E/A/B + 7-character product number).
SEC_TISSUE_ESTABLISHMENT_CODE = env_str("SEC_TISSUE_ESTABLISHMENT_CODE", "").strip().upper()
SEC_PRODUCT_CODES = {
    cell_type.strip(): code.strip().upper()
    for cell_type, _sep, code in (item.partition("=") for item in env_list("SEC_PRODUCT_CODES", []))
}
# Transplant centres (issue 12): below this cell dose (TNC per kg of the patient) or above this many HLA
# mismatches (of 6 at A, B, DRB1) a release is exceptional; turnaround of a confirmatory typing; longest
# reservation; follow-up reminders.
TRANSPLANT_MIN_TNC_PER_KG = env_float("TRANSPLANT_MIN_TNC_PER_KG", 2.5e7)
TRANSPLANT_MAX_MISMATCHES = env_int("TRANSPLANT_MAX_MISMATCHES", 2, minimum=0)
TRANSPLANT_CT_DUE_DAYS = env_int("TRANSPLANT_CT_DUE_DAYS", 14, minimum=1)
TRANSPLANT_RESERVATION_MAX_DAYS = env_int("TRANSPLANT_RESERVATION_MAX_DAYS", 90, minimum=1)
TRANSPLANT_REMIND_BEFORE_DAYS = env_int("TRANSPLANT_REMIND_BEFORE_DAYS", 14, minimum=0)
TRANSPLANT_REMIND_EVERY_DAYS = env_int("TRANSPLANT_REMIND_EVERY_DAYS", 7, minimum=1)

# --- Privacy (issue 11) ---
# The master key that wraps every donor's own data key (name, national ID and phone are encrypted at rest):
# 32 random bytes in URL-safe base64, made by `python manage.py rotate_identity_key --new-key`. Set it, or
# DONOR_IDENTITY_KEY_FILE naming a file that holds it; keep it out of the database and its backups. Production
# refuses to start without it (system check donors.E001). The embedded demo generates a key file under VAR_DIR
# on first use instead (DONOR_IDENTITY_DEMO_KEY_FILE, never in production).
DONOR_IDENTITY_KEY = env_str("DONOR_IDENTITY_KEY", "")
# Former master keys, comma-separated: they still open the data keys they wrapped until
# `python manage.py rotate_identity_key` has re-wrapped every one under DONOR_IDENTITY_KEY.
DONOR_IDENTITY_RETIRED_KEYS = env_list("DONOR_IDENTITY_RETIRED_KEYS", [])
DONOR_IDENTITY_DEMO_KEY_FILE = "" if PRODUCTION else str(VAR_DIR / "donor-identity.key")

# --- Authentication and access (issue 11) ---
# Lockout (21 CFR 11.300(d)): LOGIN_FAILURE_LIMIT failed logins, signatures or password checks within
# LOGIN_FAILURE_WINDOW_MINUTES lock the username *at the client address they came from* for
# LOGIN_LOCKOUT_MINUTES; each further lockout of that pair doubles it, up to LOGIN_LOCKOUT_MAX_MINUTES. A pair
# starts afresh after a success there, an admin's unlock, or LOGIN_LOCKOUT_MEMORY_HOURS without a lockout.
LOGIN_LOCKOUT_MINUTES = env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1)
LOGIN_LOCKOUT_MAX_MINUTES = env_int("LOGIN_LOCKOUT_MAX_MINUTES", 24 * 60, minimum=1)
LOGIN_LOCKOUT_MEMORY_HOURS = env_int("LOGIN_LOCKOUT_MEMORY_HOURS", 24, minimum=1)
if LOGIN_LOCKOUT_MAX_MINUTES > LOGIN_LOCKOUT_MEMORY_HOURS * 60:
    raise ImproperlyConfigured("LOGIN_LOCKOUT_MAX_MINUTES must not exceed LOGIN_LOCKOUT_MEMORY_HOURS: a lock is "
                               "remembered only that long, and a longer one would end early.")
# The client address is REMOTE_ADDR. Behind N reverse proxies that append to X-Forwarded-For (nginx, a load
# balancer), set N: the address is then the N-th from the right of that header. 0 ignores the header, which
# any client can forge. BEHIND_PROXY (below) makes the default 1.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 1 if env_bool("BEHIND_PROXY", False) else 0, minimum=0)
REST_FRAMEWORK["NUM_PROXIES"] = TRUSTED_PROXY_COUNT
# Passwords: Django's validators and this minimum length (the embedded demo keeps 8 for its demo accounts).
PASSWORD_MIN_LENGTH = env_int("PASSWORD_MIN_LENGTH", 12 if PRODUCTION else 8, minimum=8)
# Browser sessions (pages and the API's session authentication; API tokens are not affected): signed out after
# SESSION_IDLE_TIMEOUT_MINUTES without activity (the page warns SESSION_IDLE_WARNING_SECONDS before), and
# SESSION_ABSOLUTE_HOURS after login whatever the activity.
SESSION_IDLE_TIMEOUT_MINUTES = env_int("SESSION_IDLE_TIMEOUT_MINUTES", 15, minimum=1)
SESSION_IDLE_WARNING_SECONDS = env_int("SESSION_IDLE_WARNING_SECONDS", 60, minimum=10)
SESSION_ABSOLUTE_HOURS = env_int("SESSION_ABSOLUTE_HOURS", 8, minimum=1)
if "SESSION_COOKIE_AGE" in os.environ:
    raise ImproperlyConfigured("SESSION_COOKIE_AGE is no longer read: set SESSION_ABSOLUTE_HOURS (and "
                               "SESSION_IDLE_TIMEOUT_MINUTES).")
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_HOURS * 3600
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
                  "bank.access.ClientAddressMiddleware")
MIDDLEWARE.insert(MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
                  "bank.access.SessionLimitsMiddleware")
MIDDLEWARE.insert(MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
                  "django_otp.middleware.OTPMiddleware")
MIDDLEWARE.append("bank.db_router.ReplicaReadMiddleware")  # issue 13: catalog and trace reads from the replica
MIDDLEWARE.append("bank.memo.ReadMemoMiddleware")  # issue 13: a GET page asks each rule once (bank/memo.py)
# API tokens (django-rest-knox): stored hashed, expire after API_TOKEN_TTL_HOURS (a sensor's after
# SENSOR_TOKEN_TTL_HOURS: a tank gateway is set up once); a password or role change revokes them.
API_TOKEN_TTL_HOURS = env_int("API_TOKEN_TTL_HOURS", 24 * 30, minimum=1)
SENSOR_TOKEN_TTL_HOURS = env_int("SENSOR_TOKEN_TTL_HOURS", 24 * 365, minimum=1)
REST_KNOX = {"TOKEN_TTL": timedelta(hours=API_TOKEN_TTL_HOURS), "AUTO_REFRESH": False, "AUTH_HEADER_PREFIX": "Token"}
# Throttling (bank.api.throttling): POST /auth/token/ and the login page per client address, e-signature
# endpoints per user.
API_THROTTLE_RATES = {
    "token": env_str("API_THROTTLE_TOKEN_RATE", "10/min"),
    "login": env_str("LOGIN_THROTTLE_RATE", "30/min"),
    "signature": env_str("API_THROTTLE_SIGNATURE_RATE", "30/min"),
    # issue 15: the public catalog feed partner banks harvest without an account, per client address
    "public_catalog": env_str("API_THROTTLE_PUBLIC_CATALOG_RATE", "60/min"),
}
for _scope, _rate in API_THROTTLE_RATES.items():
    if not re.fullmatch(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)", _rate):
        raise ImproperlyConfigured(f"API throttle rate {_scope!r} must look like 10/min (number/s|min|hour|day).")
REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = ["bank.api.throttling.ScopedThrottle"]
CACHES["throttle"] = (
    {**CACHES["default"], "KEY_PREFIX": "throttle"} if REDIS_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "throttle"}
)
# Second factor (TOTP, django-otp): roles that must give an authenticator code after their password, e.g.
# "admin,qa". Empty (the default): nobody is asked unless they enrolled themselves.
REQUIRE_SECOND_FACTOR_ROLES = env_list("REQUIRE_SECOND_FACTOR_ROLES", [])
if set(REQUIRE_SECOND_FACTOR_ROLES) - {"coordinator", "technician", "qa", "researcher", "admin", "clinician",
                                     "medical_director"}:
    raise ImproperlyConfigured("REQUIRE_SECOND_FACTOR_ROLES takes roles among coordinator, technician, qa, "
                               "researcher, admin, clinician, medical_director (sensors use tokens).")
OTP_TOTP_ISSUER = BANK_NAME

# --- Operations (issue 11) ---
# Redis (broker and cache) or the mail server being down must never hold a web request: a sensor's POST or a
# page answers at once. Broker connects and publishes time out after BROKER_TIMEOUT_SECONDS and a publish
# from a request is never retried (bank.outbox keeps the message; the worker delivers it once Redis is back).
BROKER_TIMEOUT_SECONDS = env_float("BROKER_TIMEOUT_SECONDS", 1.0)
CELERY_BROKER_CONNECTION_TIMEOUT = BROKER_TIMEOUT_SECONDS
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5}
if REDIS_URL:
    _REDIS_TIMEOUTS = {"socket_connect_timeout": BROKER_TIMEOUT_SECONDS, "socket_timeout": BROKER_TIMEOUT_SECONDS}
    # max_retries 0: a failed connection attempt is reported at once, not retried for seconds (the worker's own
    # reconnection loop follows broker_connection_retry and is not affected).
    CELERY_BROKER_TRANSPORT_OPTIONS = {**_REDIS_TIMEOUTS, "max_retries": 0}
    CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = BROKER_TIMEOUT_SECONDS
    CELERY_REDIS_SOCKET_TIMEOUT = BROKER_TIMEOUT_SECONDS
    # A cache outage answers as a miss (bank/cache.py), never as a 500: every Redis cache (default, throttle).
    for _cache in CACHES.values():
        if _cache["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
            _cache.update(BACKEND="bank.cache.ResilientRedisCache",
                          OPTIONS={**_REDIS_TIMEOUTS, **_cache.get("OPTIONS", {})})
CELERY_BEAT_SCHEDULER = "bank.beat:HeartbeatScheduler"  # beat records its heartbeat on every tick
# Beat on two hosts (issue 13): only the holder of the database lease sends due tasks; the other keeps its
# heartbeat and takes over within BEAT_LEASE_SECONDS (plus a third of it) after the holder stops renewing.
BEAT_LEASE_SECONDS = env_int("BEAT_LEASE_SECONDS", 60, minimum=15)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)  # seconds; the worker sends, but must not hang on SMTP

# The transactional outbox (bank.outbox): e-mails and jobs written in the transaction of the change they follow.
OUTBOX_HANDOFF = env_bool("OUTBOX_HANDOFF", True)  # after commit, ask a worker to deliver at once
OUTBOX_HANDOFF_PAUSE_SECONDS = env_int("OUTBOX_HANDOFF_PAUSE_SECONDS", 30, minimum=1)
OUTBOX_MAX_ATTEMPTS = env_int("OUTBOX_MAX_ATTEMPTS", 10, minimum=1)
OUTBOX_RETRY_BASE_SECONDS = env_int("OUTBOX_RETRY_BASE_SECONDS", 30, minimum=1)
OUTBOX_RETRY_MAX_SECONDS = env_int("OUTBOX_RETRY_MAX_SECONDS", 3600, minimum=1)
OUTBOX_LEASE_SECONDS = env_int("OUTBOX_LEASE_SECONDS", 300, minimum=30)
OUTBOX_BATCH_SIZE = 50
OUTBOX_SWEEP_LIMIT = env_int("OUTBOX_SWEEP_LIMIT", 500, minimum=1)
OUTBOX_STALE_MINUTES = env_int("OUTBOX_STALE_MINUTES", 10, minimum=1)
OUTBOX_KEEP_DAYS = env_int("OUTBOX_KEEP_DAYS", 30, minimum=1)
# Jobs (issue 17, bank/jobs.py): long work in the worker, with progress the page polls.
JOB_PROGRESS_INTERVAL = env_float("JOB_PROGRESS_INTERVAL", 0.5)  # seconds between two progress writes
JOB_STALE_SECONDS = env_int("JOB_STALE_SECONDS", 900, minimum=30)  # no progress this long: the worker died
JOB_MAX_ATTEMPTS = env_int("JOB_MAX_ATTEMPTS", 3, minimum=1)
JOB_POLL_SECONDS = env_int("JOB_POLL_SECONDS", 1, minimum=1)  # how often the job page asks for progress
# Haplobank: the homozygous lines and coverage figures are kept per process while the records they follow from are
# unchanged (haplobank.queries.kept), and at most this long in any case.
HAPLOBANK_KEEP_SECONDS = env_int("HAPLOBANK_KEEP_SECONDS", 300, minimum=0)
# Migration imports (issue 17, imports/): files up to this size are imported in the request (the report at once);
# bigger ones run as a job. Rows are validated and written in batches of IMPORTS_BATCH_SIZE.
IMPORTS_SYNC_MAX_BYTES = env_int("IMPORTS_SYNC_MAX_BYTES", 512 * 1024, minimum=0)
IMPORTS_BATCH_SIZE = env_int("IMPORTS_BATCH_SIZE", 2000, minimum=10)

# Heartbeats of the worker and beat (bank.health): older than this, readiness answers 503 and admins and QA
# see a banner saying alarms are not being raised.
HEARTBEAT_INTERVAL_SECONDS = 30
HEARTBEAT_MAX_AGE_SECONDS = env_int("HEARTBEAT_MAX_AGE_SECONDS", 180, minimum=60)

# Backups (manage.py backup / restore): a timestamped directory per backup under BACKUP_DIR, the newest
# BACKUP_KEEP kept. Key files (settings ending in KEY_FILE) never go into a backup.
BACKUP_DIR = Path(env_str("BACKUP_DIR", str(VAR_DIR / "backups")))
BACKUP_KEEP = env_int("BACKUP_KEEP", 14, minimum=1)

# Response headers. Scripts and styles only from the bank's own static files; style="" attributes are the one
# inline thing allowed (templates and Swagger UI use them; <style> elements stay forbidden).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
# The bench reads barcodes with keyboard-wedge scanners: no page needs a camera, a microphone or a location.
PERMISSIONS_POLICY = {
    feature: []
    for feature in (
        "accelerometer", "ambient-light-sensor", "autoplay", "bluetooth", "browsing-topics", "camera",
        "display-capture", "encrypted-media", "geolocation", "gyroscope", "hid", "idle-detection", "magnetometer",
        "microphone", "midi", "payment", "screen-wake-lock", "serial", "usb", "xr-spatial-tracking",
    )
}
# Trust the X-Forwarded-Proto header (request.is_secure()) only behind a TLS proxy that sets it and strips it
# from clients: anywhere else a client could claim HTTPS.
BEHIND_PROXY = env_bool("BEHIND_PROXY", False)
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Part 11 integrity (issue 11) ---
# The tamper-evident audit chain (bank.audit_chain, PostgreSQL only). Its daily checkpoints are keyed (HMAC-SHA256)
# with a secret held outside the database; required in production on PostgreSQL (a system check error when
# missing). Outside production a key file VAR_DIR/audit-chain.key is generated on first use.
AUDIT_CHAIN_KEY = env_str("AUDIT_CHAIN_KEY", "")
# Keys of earlier checkpoints after a rotation (comma-separated), so they still verify.
AUDIT_CHAIN_PREVIOUS_KEYS = env_list("AUDIT_CHAIN_PREVIOUS_KEYS", [])
# Links chained per transaction by the sealer, and read per batch by verify_audit.
AUDIT_SEAL_BATCH = env_int("AUDIT_SEAL_BATCH", 5000, minimum=100)
AUDIT_VERIFY_BATCH = env_int("AUDIT_VERIFY_BATCH", 10000, minimum=100)
# An audit export as PDF holds at most this many entries (CSV streams any number).
AUDIT_EXPORT_PDF_MAX_ENTRIES = env_int("AUDIT_EXPORT_PDF_MAX_ENTRIES", 5000, minimum=10)
# A list page's XLSX export of more rows than this is made by a job in the worker (CSV always streams).
EXPORT_XLSX_SYNC_MAX_ROWS = env_int("EXPORT_XLSX_SYNC_MAX_ROWS", 5000, minimum=1)
