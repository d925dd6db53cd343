"""Portico settings: embedded defaults, everything else from the environment (see .env.example)."""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from dashboard.env import envbool, envchoice, envhostport, envhostport_optional, envint, envlist, envsecret, envstr

BASE_DIR = Path(__file__).resolve().parent.parent

# Everything Portico writes lives under one directory, so two instances never collide. It is private (0700, and
# the entry points set umask 077 for what goes in it); `manage.py doctor` reports loose modes.
VAR_DIR = Path(envstr("PORTICO_VAR_DIR", str(BASE_DIR / "var"))).resolve()
VAR_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once into VAR_DIR."""
    key = envsecret("SECRET_KEY")
    if key:
        return key
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = envbool("DEBUG", False)
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")
# Behind a TLS-terminating proxy, trust what it forwards: the scheme, the host and the client's address.
PORTICO_BEHIND_PROXY = envbool("PORTICO_BEHIND_PROXY", False)
if PORTICO_BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True

VERSION = "0.1.0"

# No django.contrib.admin: it would be a second login form and a second user editor that bypasses the
# operations layer (audit trail, last-admin guard). Accounts are managed on the Users page and /api/v1/users.
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "ninja",
    "axes",
    "core",
    "accounts",
    "dashboard",
    "lab",
    "publishing",
    "routes",
    "containers",
    "certificates",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "dashboard.i18n.ApiInEnglishMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.auth.PorticoLoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "core.storable.RejectNulMiddleware",
    "dashboard.api.fallback.ApiErrorShapeMiddleware",
    # Last, so it sees the login view's answer and replaces it with the lockout page when throttled.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "dashboard.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "dashboard.context_processors.portico",
                "dashboard.context_processors.publishing",
            ],
        },
    },
]

WSGI_APPLICATION = "dashboard.wsgi.application"
ASGI_APPLICATION = "dashboard.asgi.application"

# SQLite under VAR_DIR by default; DATABASE_URL (e.g. postgres://...) for scale-out.
_database_url = envsecret("DATABASE_URL")  # it holds a password: DATABASE_URL_FILE works too
if _database_url:
    try:
        # One connection per request: under ASGI each request's sync code runs in a thread of its own that ends with
        # it, so a connection kept for later would never be used again (Django's docs: no persistent connections
        # in async mode).
        DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=0)}
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {exc}") from None
else:
    _sqlite = VAR_DIR / "portico.sqlite3"
    if not _sqlite.exists():
        # Sessions and secrets live in it: created 0600 whatever the umask (SQLite gives its -wal and -shm
        # files the database's mode); an empty file is an empty database.
        _sqlite.touch(mode=0o600)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": _sqlite,
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Login throttling (django-axes). The throttle backend goes first: a throttled login is refused before the
# password is hashed, so a flood of guesses costs no PBKDF2 time either.
AUTHENTICATION_BACKENDS = ["accounts.auth.LoginThrottleBackend", "django.contrib.auth.backends.ModelBackend"]
# Failures count per username (from any address) and per client address (for any username); either reaching its
# limit refuses logins, even with the right password, until PORTICO_LOGIN_COOLOFF_MINUTES pass without a failure.
# The address limit is higher because a class behind one NAT address shares it (accounts/auth.py, docs).
PORTICO_LOGIN_FAILURES_PER_USER = envint("PORTICO_LOGIN_FAILURES_PER_USER", 5, minimum=1, maximum=1000)
PORTICO_LOGIN_FAILURES_PER_ADDRESS = envint("PORTICO_LOGIN_FAILURES_PER_ADDRESS", 30, minimum=1, maximum=10000)
PORTICO_LOGIN_COOLOFF_MINUTES = envint("PORTICO_LOGIN_COOLOFF_MINUTES", 15, minimum=1, maximum=1440)
AXES_HANDLER = "accounts.auth.LoginThrottleHandler"
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_FAILURE_LIMIT = PORTICO_LOGIN_FAILURES_PER_USER
AXES_COOLOFF_TIME = timedelta(minutes=PORTICO_LOGIN_COOLOFF_MINUTES)
AXES_CLIENT_IP_CALLABLE = "accounts.auth.client_address"
AXES_LOCKOUT_CALLABLE = "accounts.auth.lockout_response"
# Attempts made while locked out are not counted: the lockout ends a fixed time after the last counted failure,
# however long someone keeps knocking.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# A success must not wipe the counters: any account holder could otherwise reset an address's (and so a
# victim username's) failures by logging in between guesses.
AXES_RESET_ON_SUCCESS = False
AXES_DISABLE_ACCESS_LOG = True  # successful logins are in the server log; no table of addresses to keep
# Masked in axes' log lines and stored form data (the password always is): a username field sometimes holds a
# mistyped password. The address stays readable in the server log, to find who is guessing.
AXES_SENSITIVE_PARAMETERS = ["username", "csrfmiddlewaretoken"]
AXES_VERBOSE = False
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "overview"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ko", "한국어")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
# collectstatic writes with the process umask (077, see core/filemodes.py), not Django's default 0644.
FILE_UPLOAD_PERMISSIONS = None

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# A login lasts this long from the moment it is made (not renewed by activity): a working day or a lab
# session by default. Two weeks (Django's default) is long for a session that can reach the Docker socket.
SESSION_COOKIE_AGE = envint("PORTICO_SESSION_AGE", 12 * 3600, minimum=300, maximum=30 * 24 * 3600)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Served over HTTPS (directly, or by the TLS-terminating proxy of PORTICO_BEHIND_PROXY): cookies are sent over
# HTTPS only and browsers are told to use nothing else (HSTS, on answers to HTTPS requests).
PORTICO_HTTPS = envbool("PORTICO_HTTPS", PORTICO_BEHIND_PROXY)
if PORTICO_HTTPS:
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = LANGUAGE_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = envint("PORTICO_HSTS_SECONDS", 365 * 24 * 3600, minimum=0, maximum=2 * 365 * 24 * 3600)
# Scripts and styles come from Portico's own static files only: no inline script or handler, no eval (htmx is
# configured without it in _base.html); the one inline style, in the SVG file download, carries the nonce.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],  # the API docs' icons are data: URIs
    "connect-src": [CSP.SELF],  # htmx requests and the log streams
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    # httpx logs every request at INFO; Portico's probes would flood the console.
    "loggers": {"httpx": {"level": "WARNING"}},
}

# --- Portico ---------------------------------------------------------------------------
PORTICO_ADMIN_PASSWORD = envsecret("PORTICO_ADMIN_PASSWORD")
# Where routes are published: Portico's own nginx files, or Nginx Proxy Manager's API.
PORTICO_PUBLISHER = envchoice("PORTICO_PUBLISHER", "nginx", ("nginx", "npm"))
# How Portico reaches nginx: its own instance under VAR_DIR, a system nginx, or nginx in a container.
PORTICO_NGINX_MODE = envchoice("PORTICO_NGINX_MODE", "managed", ("managed", "system", "container"))
PORTICO_NGINX_BIN = envstr("PORTICO_NGINX_BIN", "nginx")
PORTICO_NGINX_LISTEN = envhostport("PORTICO_NGINX_LISTEN", "127.0.0.1:8080")
# The TLS listener of domains with a certificate; empty: none (HTTP only). Portico's own nginx listens on 8443 by
# default; a system or container nginx gets one only when this is set (its own default server may hold 443).
PORTICO_NGINX_LISTEN_TLS = envhostport_optional(
    "PORTICO_NGINX_LISTEN_TLS", "127.0.0.1:8443" if PORTICO_NGINX_MODE == "managed" else ""
)
PORTICO_NGINX_DIR = Path(envstr("PORTICO_NGINX_DIR", str(VAR_DIR / "nginx")))
PORTICO_NGINX_CONF_DIR = envstr("PORTICO_NGINX_CONF_DIR")  # system mode: where site files go
PORTICO_NGINX_TEST_CMD = envstr("PORTICO_NGINX_TEST_CMD", "nginx -t")
PORTICO_NGINX_RELOAD_CMD = envstr("PORTICO_NGINX_RELOAD_CMD", "nginx -s reload")
PORTICO_NGINX_CONTAINER = envstr("PORTICO_NGINX_CONTAINER")  # container mode: the proxy container
PORTICO_NGINX_CONTAINER_DIR = envstr("PORTICO_NGINX_CONTAINER_DIR", "/etc/nginx/conf.d")
# DNS servers nginx asks for named targets at request time; empty: /etc/resolv.conf (127.0.0.11 in container mode).
PORTICO_NGINX_RESOLVER = envstr("PORTICO_NGINX_RESOLVER")
PORTICO_VERIFY_TIMEOUT = envint("PORTICO_VERIFY_TIMEOUT", 5, minimum=1, maximum=120)
PORTICO_APPLY_LOCK_TIMEOUT = envint("PORTICO_APPLY_LOCK_TIMEOUT", 30, minimum=0, maximum=600)

PORTICO_NPM_URL = envstr("PORTICO_NPM_URL")
PORTICO_NPM_IDENTITY = envstr("PORTICO_NPM_IDENTITY")
PORTICO_NPM_SECRET = envsecret("PORTICO_NPM_SECRET")
PORTICO_NPM_TIMEOUT = envint("PORTICO_NPM_TIMEOUT", 10, minimum=1, maximum=300)

# The default Docker engine; more engines are added in the UI or API.
PORTICO_DOCKER_URL = envstr("PORTICO_DOCKER_URL", envstr("DOCKER_HOST", "unix:///var/run/docker.sock"))
PORTICO_DOCKER_TIMEOUT = envint("PORTICO_DOCKER_TIMEOUT", 10, minimum=1, maximum=300)
# Which containers start/stop/restart may touch (containers.operations.run_action): every one, those labelled
# portico.manage=true, those a route points at, or either of the last two. Reading (list, logs) is not limited.
PORTICO_CONTAINER_SCOPE = envchoice(
    "PORTICO_CONTAINER_SCOPE", "all", ("all", "labelled", "targets", "labelled+targets")
)
# Live log streams: each costs a socket and a coroutine (not a thread); a user may hold this many at once across
# every process, and one process this many in all.
PORTICO_MAX_LOG_STREAMS_PER_USER = envint("PORTICO_MAX_LOG_STREAMS_PER_USER", 4, minimum=1, maximum=100)
PORTICO_MAX_LOG_STREAMS = envint("PORTICO_MAX_LOG_STREAMS", 100, minimum=1, maximum=1000)
# Requests of one server process doing their sync work (views, templates, database) at once; more wait their turn.
PORTICO_CONCURRENT_REQUESTS = envint("PORTICO_CONCURRENT_REQUESTS", 8, minimum=1, maximum=256)
# A followed log with no new line for this long is closed (the page offers to follow again).
PORTICO_LOG_IDLE_SECONDS = envint("PORTICO_LOG_IDLE_SECONDS", 600, minimum=5, maximum=86400)
# Secrets at rest (private keys, DNS credentials) are sealed with this Fernet key; generated once into
# VAR_DIR/encryption_key (0600) when unset (certificates.sealing).
PORTICO_ENCRYPTION_KEY = envsecret("PORTICO_ENCRYPTION_KEY")
# ACME (certificates.acme_client): the directory Portico orders certificates from, the account's contact, and a CA
# file to trust for the ACME server's own HTTPS (tests: pebble's throwaway CA; empty: the system's CAs).
PORTICO_ACME_DIRECTORY = envstr("PORTICO_ACME_DIRECTORY", "https://acme-v02.api.letsencrypt.org/directory")
PORTICO_ACME_EMAIL = envstr("PORTICO_ACME_EMAIL")
PORTICO_ACME_CA_BUNDLE = envstr("PORTICO_ACME_CA_BUNDLE")
PORTICO_ACME_TIMEOUT = envint("PORTICO_ACME_TIMEOUT", 120, minimum=10, maximum=3600)
# Renew when this share (percent) of a certificate's lifetime is left; a failure retries after RETRY seconds,
# doubled each time up to a day.
PORTICO_ACME_RENEW_PERCENT = envint("PORTICO_ACME_RENEW_PERCENT", 33, minimum=1, maximum=90)
PORTICO_ACME_RETRY_SECONDS = envint("PORTICO_ACME_RETRY_SECONDS", 300, minimum=1, maximum=86400)
# HTTP-01 answers are files here; nginx serves them under /.well-known/acme-challenge/.
PORTICO_ACME_CHALLENGE_DIR = Path(envstr("PORTICO_ACME_CHALLENGE_DIR", str(VAR_DIR / "acme-challenges")))
# DNS-01 "hook" provider: the command Portico runs as COMMAND... set|remove RECORD_NAME VALUE (no shell).
PORTICO_DNS_HOOK = envstr("PORTICO_DNS_HOOK")
PORTICO_DNS_HOOK_TIMEOUT = envint("PORTICO_DNS_HOOK_TIMEOUT", 60, minimum=1, maximum=3600)
# Every log read that pages and the API answer keeps at most this many lines and bytes (the newest ones); only
# the download streams a whole log.
PORTICO_LOG_MAX_LINES = envint("PORTICO_LOG_MAX_LINES", 100_000, minimum=10, maximum=1_000_000)
PORTICO_LOG_MAX_BYTES = envint("PORTICO_LOG_MAX_BYTES", 16 * 1024 * 1024, minimum=4096, maximum=512 * 1024 * 1024)
# bench/ only: mounts GET /api/v1/bench/floor (token auth, no work), the API benchmark's baseline.
PORTICO_BENCH_FLOOR = envbool("PORTICO_BENCH_FLOOR", False)

if envbool("PORTICO_TESTING", False):
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
