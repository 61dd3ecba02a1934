"""spreview settings: one file, everything from the environment.

The defaults run the embedded demo (SQLite in var/, a filesystem Celery broker, email to files).
Production sets DEBUG=false and must then provide a real SECRET_KEY and ALLOWED_HOSTS.
"""

import importlib.util
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("SPREVIEW_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

DEBUG = env.bool("DEBUG", default=True)


DEMO_SECRET_KEY = "spreview-insecure-demo-key-never-use-in-production"


def _secret_key() -> str:
    """Read SECRET_KEY or SECRET_KEY_FILE; only the demo may fall back to a fixed key."""
    path = env.str("SECRET_KEY_FILE", default="")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"SECRET_KEY_FILE {path!r} cannot be read: {exc}") from exc
    value = env.str("SECRET_KEY", default="")
    if value:
        return value
    if DEBUG:
        return DEMO_SECRET_KEY
    raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) must be set when DEBUG is false.")


def _refuse_weak_secret_key(key: str) -> None:
    """Production signs sessions and email links with this key: one anybody can read here, or
    one short or repetitive enough to guess (Django's own security.W009 rule), stops start-up."""
    if key == DEMO_SECRET_KEY or key.startswith("django-insecure"):
        problem = "is a published demo key"
    elif len(key) < 50 or len(set(key)) < 5:
        problem = "is too weak (fewer than 50 characters or 5 different ones)"
    else:
        return
    raise ImproperlyConfigured(
        f"SECRET_KEY {problem}: with DEBUG=false set a random one, such as the output of "
        "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`."
    )


SECRET_KEY = _secret_key()
if not DEBUG:
    _refuse_weak_secret_key(SECRET_KEY)
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else []
)
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_filters",
    "django_tables2",
    "django_htmx",
    "csp",
    "axes",
    "identities",
    "accounts",
    "reviews",
    "outbox",
]
# The demo app (`manage.py demo`, `simulator`) is development only: present in a checkout, never
# installed by `pip install .` or the image, so production starts without it.
if importlib.util.find_spec("demo") is not None:
    INSTALLED_APPS.append("demo")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # A view whose database failed (statement timeout, PostgreSQL down) answers 503, not 500.
    "config.database.DatabaseUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Session lifetime, idle timeout, and app roles re-read from Entra ID (after messages).
    "accounts.session_guard.SessionGuardMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

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
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'spreview.sqlite3'}"),
}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The demo runs web, worker and beat against one file: wait for locks instead of failing.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "transaction_mode": "IMMEDIATE"}
    )
# Web requests only (config/wsgi.py): PostgreSQL cancels a page's statement after this long, and
# the page says so (503) instead of running on after gunicorn gave up on it. 0: no limit.
DB_STATEMENT_TIMEOUT_MS = env.int("DB_STATEMENT_TIMEOUT_MS", default=5000)
# A CSV download streams a whole table through one statement: it gets this longer limit instead.
DB_EXPORT_STATEMENT_TIMEOUT_MS = env.int("DB_EXPORT_STATEMENT_TIMEOUT_MS", default=300_000)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The tables' owner, for `migrate` and `grant_app_role` only. The app itself connects (with
# DATABASE_URL) as a role that can insert into the audit log but not rewrite it.
MIGRATE_DATABASE_URL = env.str("MIGRATE_DATABASE_URL", default="")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "signed_out"
# People sign in through Entra ID (accounts.signin, which logs them in with ModelBackend);
# passwords exist only for the local break-glass admin, and axes rate-limits those attempts.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Where collectstatic writes (and whitenoise serves from); a benchmark or a read-only image may
# point it elsewhere.
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Email: console in the demo; EMAIL_URL (smtp://…, consolemail://, filemail://…) elsewhere.
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="spreview <spreview@localhost>")
# A mail server that hangs must not hold a sender (and its claims) for long; a claim still
# unsent after EMAIL_CLAIM_STALE_SECONDS means its sender died, and the tick sends it again.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
EMAIL_CLAIM_STALE_SECONDS = env.int("EMAIL_CLAIM_STALE_SECONDS", default=1800)
# Invitations and notices the mail server refused: retried with waits from 1 minute to 1 hour.
EMAIL_MAX_RETRIES = env.int("EMAIL_MAX_RETRIES", default=10)
EMAIL_RETRY_BASE_SECONDS = env.float("EMAIL_RETRY_BASE_SECONDS", default=60.0)

# Celery: a broker that needs no server in the demo, Redis in production and CI.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # Exchange tables; kombu's default is ./control, in whatever directory the process runs.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
# Tasks asked for by a request wait in the outbox table until the broker takes them: with the
# broker down, a send must fail within about this long (then the drain sends it later), not
# hang the page. One quick retry absorbs a dropped pooled connection.
BROKER_TIMEOUT_SECONDS = env.float("BROKER_TIMEOUT_SECONDS", default=1.0)
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": BROKER_TIMEOUT_SECONDS}
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
OUTBOX_DRAIN_SECONDS = env.float("OUTBOX_DRAIN_SECONDS", default=30.0)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
SYNC_INTERVAL_MINUTES = env.float("SYNC_INTERVAL_MINUTES", default=60.0)
CELERY_BEAT_SCHEDULE = {
    "sync-tenant": {
        "task": "identities.tasks.sync_tenant",
        "schedule": SYNC_INTERVAL_MINUTES * 60,
        "kwargs": {"trigger": "schedule"},
    },
    "reap-stale-sync-runs": {
        "task": "identities.tasks.reap_stale_sync_runs",
        # Often enough that a dead run is seen within seconds of going stale.
        "schedule": 10.0,
    },
    # Starts and closes cycles, sends reminders, re-queues stalled removals: all due-date driven.
    "reviews-tick": {"task": "reviews.tasks.tick", "schedule": 60.0},
    # Sends what requests queued while the broker was down (the tick drains too).
    "outbox-drain": {"task": "outbox.tasks.drain", "schedule": OUTBOX_DRAIN_SECONDS},
}
# Revocations are written back through Graph unless the deployment is read-only: then each one
# becomes a to-do for an admin to carry out in Entra ID.
GRAPH_WRITE_ENABLED = env.bool("GRAPH_WRITE_ENABLED", default=True)
APPLY_MAX_ATTEMPTS = env.int("APPLY_MAX_ATTEMPTS", default=5)
APPLY_STALE_AFTER_SECONDS = env.int("APPLY_STALE_AFTER_SECONDS", default=600)
# A revoked assignment listed again later than this after its removal is flagged as re-granted.
REGRANT_GRACE_MINUTES = env.int("REGRANT_GRACE_MINUTES", default=15)

# Entra ID and Graph (names follow azure-identity so existing deployments work unchanged).
AZURE_TENANT_ID = env.str("AZURE_TENANT_ID", default="")
# How pages name the tenant (Graph's /organization is outside the permissions we ask for).
TENANT_DISPLAY_NAME = env.str("TENANT_DISPLAY_NAME", default="")
AZURE_CLIENT_ID = env.str("AZURE_CLIENT_ID", default="")
AZURE_CLIENT_SECRET = env.str("AZURE_CLIENT_SECRET", default="")
AZURE_CLIENT_CERTIFICATE_PATH = env.str("AZURE_CLIENT_CERTIFICATE_PATH", default="")
AZURE_CLIENT_CERTIFICATE_PASSWORD = env.str("AZURE_CLIENT_CERTIFICATE_PASSWORD", default="")
AZURE_FEDERATED_TOKEN_FILE = env.str("AZURE_FEDERATED_TOKEN_FILE", default="")
AZURE_AUTHORITY_HOST = env.str("AZURE_AUTHORITY_HOST", default="https://login.microsoftonline.com")
GRAPH_URL = env.str("GRAPH_URL", default="https://graph.microsoft.com")
GRAPH_TIMEOUT_SECONDS = env.float("GRAPH_TIMEOUT_SECONDS", default=30.0)
GRAPH_MAX_ATTEMPTS = env.int("GRAPH_MAX_ATTEMPTS", default=6)
GRAPH_MAX_BACKOFF_SECONDS = env.float("GRAPH_MAX_BACKOFF_SECONDS", default=60.0)

# A principal with no sign-in for this many days counts as inactive in the inventory.
INACTIVE_DAYS = env.int("INACTIVE_DAYS", default=90)
# A running sync beats every SYNC_HEARTBEAT_SECONDS from its own thread, whatever Graph's speed;
# one whose heartbeat is older than SYNC_STALE_AFTER_SECONDS is taken as dead (worker lost).
SYNC_HEARTBEAT_SECONDS = env.float("SYNC_HEARTBEAT_SECONDS", default=5.0)
SYNC_STALE_AFTER_SECONDS = env.int("SYNC_STALE_AFTER_SECONDS", default=30)
# A sweep that would remove more than this share of the mirror waits for a second complete read.
SYNC_MAX_SWEEP_SHARE = env.float("SYNC_MAX_SWEEP_SHARE", default=0.2)

# Resource APIs whose application permissions held by service principals are mirrored and
# reviewed, by appId: Microsoft Graph always, Exchange Online and SharePoint Online by default;
# APP_PERMISSION_RESOURCES (comma-separated appIds) adds more.
MICROSOFT_GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
APP_PERMISSION_RESOURCES = list(
    dict.fromkeys(
        [
            MICROSOFT_GRAPH_APP_ID,
            "00000002-0000-0ff1-ce00-000000000000",  # Office 365 Exchange Online
            "00000003-0000-0ff1-ce00-000000000000",  # Office 365 SharePoint Online
            *(a.strip().lower() for a in env.list("APP_PERMISSION_RESOURCES", default=[])),
        ]
    )
)
# A JSON file that overrides the built-in privilege tiers (format: docs/tiers.md). Read and
# checked at start-up: a file that cannot be read or understood stops the process.
TIER_CLASSIFICATION_FILE = env.str("TIER_CLASSIFICATION_FILE", default="")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"link_tokens": {"()": "config.logfilters.RedactLinkTokens"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["link_tokens"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # msal and urllib3 at DEBUG would print request bodies; keep them quiet.
        "msal": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        # SQL at DEBUG prints every parameter: session keys, password hashes. Even when "django"
        # is turned up to find a problem, statements stay out of the logs.
        "django.db.backends": {"level": "INFO"},
    },
}

# ----- security --------------------------------------------------------------------------------
# Production (DEBUG=false) passes `manage.py check --deploy` with no warning once SECRET_KEY,
# ALLOWED_HOSTS and an https SITE_URL are set.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"  # signed links in emails must not leak to other sites
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# A session ends SESSION_MAX_AGE seconds after sign-in and SESSION_IDLE_TIMEOUT seconds after its
# last request; an Entra session's app roles are re-read from Entra ID every ROLE_RECHECK_SECONDS
# (accounts/session_guard.py).
SESSION_MAX_AGE = env.int("SESSION_MAX_AGE", default=8 * 3600)
SESSION_IDLE_TIMEOUT = env.int("SESSION_IDLE_TIMEOUT", default=3600)
ROLE_RECHECK_SECONDS = env.int("ROLE_RECHECK_SECONDS", default=300)
if SESSION_MAX_AGE <= 0 or SESSION_IDLE_TIMEOUT <= 0 or ROLE_RECHECK_SECONDS < 0:
    raise ImproperlyConfigured(
        "SESSION_MAX_AGE and SESSION_IDLE_TIMEOUT must be positive, ROLE_RECHECK_SECONDS not "
        "negative (seconds)."
    )
SESSION_COOKIE_AGE = SESSION_MAX_AGE  # the cookie and the stored session outlive neither
SESSION_COOKIE_SAMESITE = "Lax"  # Lax, not Strict: Entra ID's redirect back must carry it
CSRF_COOKIE_SAMESITE = "Lax"
# Behind a proxy that ends TLS: set SECURE_PROXY_SSL_HEADER to the header it sets, such as
# X-Forwarded-Proto (and make sure the proxy overwrites it), or SECURE_SSL_REDIRECT=false when
# the proxy itself redirects http to https.
_proxy_header = env.str("SECURE_PROXY_SSL_HEADER", default="").strip()
if _proxy_header:
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_header.upper().replace("-", "_"), "https")
if SITE_URL.startswith("https://"):
    CSRF_TRUSTED_ORIGINS = ["https://" + urlsplit(SITE_URL).netloc]
# Container probes call /healthz over plain http on the pod's own port: a redirect to https
# would fail them. The answer is "ok" and nothing else.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# Content-Security-Policy (django-csp 4): scripts and styles only from our own static files, no
# inline code or style attributes anywhere; no framing. form-action lists the Entra authority
# because browsers apply it to the redirect after a form post (sign-out goes on to Entra ID).
_authority = urlsplit(AZURE_AUTHORITY_HOST.strip())
_authority_origin = [f"{_authority.scheme}://{_authority.netloc}"] if _authority.netloc else []
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF, *_authority_origin],
    },
}

# Failed password sign-ins (the break-glass account): 5 per username and address, then that
# pair waits 15 minutes. Entra ID sign-in has its own protection and is not counted here.
PASSWORD_FAILURES_ALLOWED = env.int("PASSWORD_FAILURES_ALLOWED", default=5)
# axes refuses the attempt that reaches its limit: the one after the allowed failures.
AXES_FAILURE_LIMIT = PASSWORD_FAILURES_ALLOWED + 1
AXES_COOLOFF_TIME = timedelta(minutes=env.int("PASSWORD_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.auth_views.locked_out"
AXES_SENSITIVE_PARAMETERS = ["password"]
# Behind proxies, TRUSTED_PROXY_COUNT says how many: then (and only then) the client address is
# read from X-Forwarded-For, which a client could otherwise forge to escape the lockout.
AXES_IPWARE_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if AXES_IPWARE_PROXY_COUNT else ["REMOTE_ADDR"]
)
