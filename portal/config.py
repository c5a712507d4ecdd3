"""Settings read from the environment, each with an embedded default that runs without outside services."""
import ipaddress
import os
import secrets
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = Path(os.environ.get("PORTAL_INSTANCE_DIR", ROOT / "instance"))


def normalise_database_url(url: str) -> str:
    """Accept the usual postgres:// spellings and point them at psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _secret_key() -> str:
    """Use SECRET_KEY, or one generated once into instance/ so sessions survive restarts."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    path = INSTANCE_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _networks(name: str, default: str) -> tuple[str, ...]:
    """A comma-separated list of CIDRs, each checked now: a typo must stop start-up, not open or close a network."""
    value = os.environ.get(name, default)
    networks = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        try:
            networks.append(str(ipaddress.ip_network(item)))
        except ValueError as error:
            raise ValueError(f"{name}: {item!r} is not a network in CIDR notation (like 10.0.0.0/8): {error}") from None
    return tuple(networks)


def _plan_days(name: str, default: str) -> dict[str, int]:
    """plan=days pairs ("starter=7,pro=14,*=7"); `*` is any other plan."""
    days = {}
    for key, value in _labels(name, default).items():
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"{name}: {key}={value} must be a whole number of days, at least 1")
        days[key] = int(value)
    days.setdefault("*", 7)
    return days


def _labels(name: str, default: str) -> dict[str, str]:
    """A comma-separated list of key=value labels (a pod selector)."""
    labels = {}
    for item in (part.strip() for part in os.environ.get(name, default).split(",")):
        key, equals, value = item.partition("=")
        if not equals or not key.strip() or not value.strip():
            raise ValueError(f"{name}: {item!r} is not a label in the form key=value")
        labels[key.strip()] = value.strip()
    return labels


def _choice(name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = (os.environ.get(name) or default).strip().lower()
    if value not in allowed:
        raise ValueError(f"{name}: {value!r} is not one of {', '.join(allowed)}")
    return value


def from_environment() -> dict:
    """The whole configuration as a plain dict; create_app applies overrides on top."""
    env = os.environ.get
    mail_server = env("MAIL_SERVER") or None
    frontend_url = (env("FRONTEND_URL") or "http://127.0.0.1:5000").rstrip("/")
    served_over_https = frontend_url.startswith("https://")
    return {
        "SECRET_KEY": _secret_key(),
        # Previous keys, comma-separated, while rotating SECRET_KEY: sessions and emailed links signed with
        # them stay valid (Flask reads this list for sessions; the account tokens too).
        "SECRET_KEY_FALLBACKS": [key for key in (env("SECRET_KEY_FALLBACKS") or "").split(",") if key.strip()],
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(
            env("DATABASE_URL") or f"sqlite:///{INSTANCE_DIR / 'portal.db'}"
        ),
        # Connections are replaced after 5 minutes instead of pinged on every checkout (a round trip per request);
        # after a database restart each process fails one request (a calm 503) and renews its pool.
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_recycle": 300},
        "REDIS_URL": env("REDIS_URL") or None,
        # The task queue when there is no Redis (`make run`'s single consumer).
        "HUEY_SQLITE_PATH": str(INSTANCE_DIR / "huey.db"),
        "PRODUCT_NAME": env("PRODUCT_NAME", "Portal"),
        # The language of a reader with no profile choice, no switcher cookie and no Accept-Language match.
        "DEFAULT_LOCALE": _choice("PORTAL_DEFAULT_LOCALE", "id", ("id", "en")),
        "FRONTEND_URL": frontend_url,
        "SUPPORT_EMAIL": env("SUPPORT_EMAIL", "support@portal.localtest.me"),
        "STAFF_ALERT_EMAIL": env("STAFF_ALERT_EMAIL") or None,
        # Mail: with no server every email stays in the outbox, readable by staff.
        "MAIL_SERVER": mail_server,
        "MAIL_PORT": int(env("MAIL_PORT", "587")),
        "MAIL_USE_TLS": _flag("MAIL_USE_TLS", default=bool(mail_server) and env("MAIL_PORT", "587") == "587"),
        "MAIL_USE_SSL": _flag("MAIL_USE_SSL"),
        "MAIL_USERNAME": env("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": env("MAIL_PASSWORD") or None,
        "MAIL_DEFAULT_SENDER": env("MAIL_DEFAULT_SENDER", "Portal <no-reply@portal.localtest.me>"),
        "MAIL_SUPPRESS_SEND": False,
        "MAIL_TIMEOUT_SECONDS": int(env("MAIL_TIMEOUT_SECONDS", "10")),
        "EMAIL_MAX_ATTEMPTS": int(env("EMAIL_MAX_ATTEMPTS", "6")),
        "EMAIL_RETRY_BASE_SECONDS": float(env("EMAIL_RETRY_BASE_SECONDS", "30")),  # doubles per attempt
        # Cluster and payments: the loopback emulators `make run` starts (emulators/, not in the image) unless named.
        "KUBE_MODE": env("KUBE_MODE", "emulated"),
        "KUBECONFIG_PATH": env("KUBECONFIG_PATH") or None,
        "KUBE_EMULATOR_URL": env("KUBE_EMULATOR_URL", "http://127.0.0.1:8001"),
        "KUBE_TIMEOUT_SECONDS": float(env("KUBE_TIMEOUT_SECONDS", "10")),
        "PROVISION_MAX_ATTEMPTS": int(env("PROVISION_MAX_ATTEMPTS", "6")),
        "PROVISION_RETRY_BASE_SECONDS": float(env("PROVISION_RETRY_BASE_SECONDS", "5")),  # doubles per attempt
        # While anything is provisioning, sweep this often instead of waiting for the minute.
        "WATCH_INTERVAL_SECONDS": float(env("WATCH_INTERVAL_SECONDS", "3")),
        # A lock on an instance's cluster work lapses after this, in case its holder was killed.
        "PROVISION_LOCK_SECONDS": int(env("PROVISION_LOCK_SECONDS", "300")),
        # Setup with no progress for this long was interrupted (a lost task, a killed worker): resumed.
        "PROVISION_STALE_MINUTES": int(env("PROVISION_STALE_MINUTES", "10")),
        # A restart or settings change not running again after this long is an outage (alerted as one).
        "ROLLOUT_TIMEOUT_SECONDS": int(env("ROLLOUT_TIMEOUT_SECONDS", "600")),
        "JOB_LOCK_SECONDS": int(env("JOB_LOCK_SECONDS", "1800")),
        # An email still queued after this long lost its send task (a restarted queue): sent again.
        "OUTBOX_REQUEUE_MINUTES": int(env("OUTBOX_REQUEUE_MINUTES", "10")),
        "WATCH_MAX_ROUNDS": int(env("WATCH_MAX_ROUNDS", "200")),
        # The cluster watcher (`python -m portal.watcher`, two replicas): one leads through this Lease; the
        # other takes over once the leader has not renewed for WATCHER_LEASE_SECONDS (client-go's timings).
        "WATCHER_LEASE_NAMESPACE": env("WATCHER_LEASE_NAMESPACE", "portal"),
        "WATCHER_LEASE_NAME": env("WATCHER_LEASE_NAME", "portal-watcher"),
        "WATCHER_LEASE_SECONDS": float(env("WATCHER_LEASE_SECONDS", "8")),
        "WATCHER_RENEW_DEADLINE_SECONDS": float(env("WATCHER_RENEW_DEADLINE_SECONDS", "6")),
        "WATCHER_RETRY_SECONDS": float(env("WATCHER_RETRY_SECONDS", "2")),
        # Every so often the watcher lists everything again and records it all (what a missed event left wrong).
        "WATCHER_RESYNC_SECONDS": float(env("WATCHER_RESYNC_SECONDS", "3600")),
        "WATCHER_WATCH_TIMEOUT_SECONDS": int(env("WATCHER_WATCH_TIMEOUT_SECONDS", "300")),
        "K8S_NAMESPACE_PREFIX": env("K8S_NAMESPACE_PREFIX", "customer-"),
        "K8S_CLUSTER_DOMAIN": env("K8S_CLUSTER_DOMAIN", "localtest.me"),
        "K8S_INGRESS_CLASS": env("K8S_INGRESS_CLASS", "nginx"),
        "K8S_INGRESS_NAMESPACE": env("K8S_INGRESS_NAMESPACE", "ingress-nginx"),
        "K8S_CLUSTER_ISSUER": env("K8S_CLUSTER_ISSUER", "letsencrypt"),
        "K8S_STORAGE_CLASS": env("K8S_STORAGE_CLASS") or None,
        # Customer pods' way out (docs/operations.md, "Customer network isolation"): DNS queries only to these pods,
        # connections to any address but these ranges and the cluster's own.
        "K8S_DNS_NAMESPACE": env("K8S_DNS_NAMESPACE", "kube-system"),
        "K8S_DNS_POD_LABELS": _labels("K8S_DNS_POD_LABELS", "k8s-app=kube-dns"),
        # Private (RFC 1918, RFC 4193), carrier-grade NAT and link-local (the cloud metadata address) ranges.
        "K8S_EGRESS_EXCEPT_CIDRS": _networks("K8S_EGRESS_EXCEPT_CIDRS", "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,"
                                             "100.64.0.0/10,169.254.0.0/16,fc00::/7,fe80::/10"),
        # The cluster's pod and service ranges (k3s's defaults here).
        "K8S_CLUSTER_CIDRS": _networks("K8S_CLUSTER_CIDRS", "10.42.0.0/16,10.43.0.0/16"),
        # Instances' own email (docs/operations.md, "Email from instances"): the business's relay every instance sends
        # through unless its customer names their own server. No host: instances get no mail settings.
        "APP_MAIL_RELAY_HOST": (env("APP_MAIL_RELAY_HOST") or "").strip(),
        "APP_MAIL_RELAY_PORT": int(env("APP_MAIL_RELAY_PORT", "587")),
        "APP_MAIL_RELAY_TLS": _choice("APP_MAIL_RELAY_TLS", "starttls", ("none", "starttls", "tls")),
        "APP_MAIL_RELAY_USER": env("APP_MAIL_RELAY_USER") or "",
        "APP_MAIL_RELAY_PASSWORD": env("APP_MAIL_RELAY_PASSWORD") or "",
        # Unset: an instance sends as noreply@<its own host>; set: as <subdomain>@<this domain>.
        "APP_MAIL_SENDER_DOMAIN": (env("APP_MAIL_SENDER_DOMAIN") or "").strip().lower(),
        # Customers' own servers must be public addresses (the portal and their pods connect to them); only for
        # tests and closed networks may they be private or loopback.
        "APP_MAIL_ALLOW_PRIVATE_SERVERS": _flag("APP_MAIL_ALLOW_PRIVATE_SERVERS"),
        "APP_MAIL_TEST_TIMEOUT_SECONDS": float(env("APP_MAIL_TEST_TIMEOUT_SECONDS", "10")),
        "APP_MAIL_TEST_RATE_LIMIT": env("APP_MAIL_TEST_RATE_LIMIT", "10 per hour"),
        # Custom domains (docs/operations.md, "Custom domains"): the resolver the DNS check asks (host:port, an IP;
        # empty: the system's), where a customer's CNAME must point (empty: the instance's own address) and the
        # ingress's public addresses an apex's A/AAAA records must hold; names under these suffixes are refused
        # (the cluster domain always is).
        "DOMAINS_DNS_RESOLVER": env("DOMAINS_DNS_RESOLVER", ""),
        "DOMAINS_DNS_TIMEOUT_SECONDS": float(env("DOMAINS_DNS_TIMEOUT_SECONDS", "3")),
        "DOMAINS_CNAME_TARGET": env("DOMAINS_CNAME_TARGET", "").strip().rstrip(".").lower(),
        "DOMAINS_APEX_A": tuple(a.strip() for a in env("DOMAINS_APEX_A", "").split(",") if a.strip()),
        "DOMAINS_APEX_AAAA": tuple(a.strip() for a in env("DOMAINS_APEX_AAAA", "").split(",") if a.strip()),
        "DOMAINS_PROVIDER_SUFFIXES": tuple(a.strip().lower() for a in env("DOMAINS_PROVIDER_SUFFIXES", "").split(",")
                                           if a.strip()),
        "DOMAINS_VERIFY_PREFIX": env("DOMAINS_VERIFY_PREFIX", "_portal-verify"),
        # After a domain is added its DNS is checked every DOMAINS_CHECK_INTERVAL_SECONDS, DOMAINS_CHECK_ATTEMPTS
        # times (a periodic check every 10 minutes carries on after that); its certificate is read from the
        # cluster every DOMAINS_CERTIFICATE_POLL_SECONDS until cert-manager has issued it or failed.
        "DOMAINS_CHECK_INTERVAL_SECONDS": float(env("DOMAINS_CHECK_INTERVAL_SECONDS", "30")),
        "DOMAINS_CHECK_ATTEMPTS": int(env("DOMAINS_CHECK_ATTEMPTS", "20")),
        "DOMAINS_CERTIFICATE_POLL_SECONDS": float(env("DOMAINS_CERTIFICATE_POLL_SECONDS", "15")),
        "DOMAINS_CERTIFICATE_POLL_ATTEMPTS": int(env("DOMAINS_CERTIFICATE_POLL_ATTEMPTS", "40")),
        "DOMAINS_EXPIRY_ALERT_DAYS": int(env("DOMAINS_EXPIRY_ALERT_DAYS", "14")),
        # Backups through Velero (docs/operations.md, "Backups"): its namespace, when each instance's daily backup
        # runs ({minute} is spread by subscription, so backups do not all start at once), days kept by plan slug.
        "VELERO_NAMESPACE": env("VELERO_NAMESPACE", "velero"),
        "BACKUP_CRON": env("BACKUP_CRON", "{minute} 19 * * *"),  # 19:xx UTC is 02:xx in Jakarta
        "BACKUP_RETENTION_DAYS": _plan_days("BACKUP_RETENTION_DAYS", "starter=7,pro=14,business=30,*=7"),
        "BACKUP_MANUAL_PER_DAY": int(env("BACKUP_MANUAL_PER_DAY", "3")),
        "BACKUP_RETENTION_AFTER_TERMINATION_DAYS": int(env("BACKUP_RETENTION_AFTER_TERMINATION_DAYS", "14")),
        "BACKUP_ALERT_HOURS": int(env("BACKUP_ALERT_HOURS", "36")),
        # A restored copy not healthy after this long is given up (the instance stays as it was).
        "RESTORE_TIMEOUT_MINUTES": int(env("RESTORE_TIMEOUT_MINUTES", "20")),
        "SERVICE_TEMPLATES_DIR": env("SERVICE_TEMPLATES_DIR", str(ROOT / "service-templates")),
        "MIDTRANS_SERVER_KEY": env("MIDTRANS_SERVER_KEY") or None,
        "MIDTRANS_CLIENT_KEY": env("MIDTRANS_CLIENT_KEY") or None,
        "MIDTRANS_IS_PRODUCTION": _flag("MIDTRANS_IS_PRODUCTION"),
        # Only to point the client elsewhere (tests use a loopback emulator); unset means Midtrans itself.
        "MIDTRANS_SNAP_BASE_URL": env("MIDTRANS_SNAP_BASE_URL") or None,
        "MIDTRANS_CORE_BASE_URL": env("MIDTRANS_CORE_BASE_URL") or None,
        "MIDTRANS_TIMEOUT_SECONDS": float(env("MIDTRANS_TIMEOUT_SECONDS", "5")),
        # The life cycle after a period ends (all in days unless named otherwise).
        "RENEWAL_NOTICE_DAYS": int(env("RENEWAL_NOTICE_DAYS", "7")),
        "REMINDER_DAYS": tuple(int(d) for d in env("REMINDER_DAYS", "7,3,1").split(",")),
        "GRACE_DAYS": int(env("GRACE_DAYS", "3")),
        "RETENTION_DAYS": int(env("RETENTION_DAYS", "14")),
        "RETENTION_WARNING_DAYS": int(env("RETENTION_WARNING_DAYS", "3")),
        "UNPAID_ORDER_HOURS": int(env("UNPAID_ORDER_HOURS", "24")),
        "EVENT_RETENTION_DAYS": int(env("EVENT_RETENTION_DAYS", "90")),
        "SAMPLE_RETENTION_DAYS": int(env("SAMPLE_RETENTION_DAYS", "14")),
        # How often the status sweep takes a CPU/memory sample per instance (the metrics API, one row each).
        "SAMPLE_INTERVAL_SECONDS": float(env("SAMPLE_INTERVAL_SECONDS", "300")),
        "EMAIL_BODY_RETENTION_DAYS": int(env("EMAIL_BODY_RETENTION_DAYS", "30")),
        "INVOICE_EXPIRY_HOURS": int(env("INVOICE_EXPIRY_HOURS", "24")),
        "MAX_UNPAID_ORDERS": int(env("MAX_UNPAID_ORDERS", "3")),
        "PAYMENT_SYNC_AFTER_MINUTES": int(env("PAYMENT_SYNC_AFTER_MINUTES", "10")),
        # A paid invoice is asked about once a day for this many days (a lost refund or chargeback notification).
        "PAYMENT_SYNC_PAID_DAYS": int(env("PAYMENT_SYNC_PAID_DAYS", "30")),
        # The payment inbox: a stored notification's own task has this long before the sweep takes it over;
        # confirming it with the status API is retried after this, doubling; staff are alerted past the minutes.
        "PAYMENT_INBOX_GRACE_SECONDS": int(env("PAYMENT_INBOX_GRACE_SECONDS", "30")),
        "PAYMENT_INBOX_RETRY_SECONDS": int(env("PAYMENT_INBOX_RETRY_SECONDS", "60")),
        "PAYMENT_INBOX_ALERT_MINUTES": int(env("PAYMENT_INBOX_ALERT_MINUTES", "15")),
        "WEBHOOK_MAX_BYTES": 64 * 1024,
        # Admin lists: up to this many matching rows a total is counted on every request; beyond it, counting
        # (26,000 active subscriptions: more database time than the rest of the page) is done at most once per
        # ADMIN_COUNT_CACHE_SECONDS and shown as "about".
        "ADMIN_EXACT_COUNT_LIMIT": 1_000,
        "ADMIN_COUNT_CACHE_SECONDS": 30,
        # Accounts.
        "EMAIL_VERIFICATION_MAX_AGE": timedelta(hours=int(env("EMAIL_VERIFICATION_HOURS", "48"))),
        "PASSWORD_RESET_MAX_AGE": timedelta(hours=int(env("PASSWORD_RESET_HOURS", "1"))),
        "PASSWORD_MIN_LENGTH": 10,
        "REMEMBER_COOKIE_DURATION": timedelta(days=30),  # also how long a log-in session lives on the server
        # Per account, whatever the address: this many wrong passwords within the window lock its log-in.
        "LOGIN_FAILURE_LIMIT": int(env("LOGIN_FAILURE_LIMIT", "5")),
        "LOGIN_FAILURE_WINDOW": timedelta(minutes=int(env("LOGIN_FAILURE_WINDOW_MINUTES", "15"))),
        "LOGIN_LOCK_DURATION": timedelta(minutes=int(env("LOGIN_LOCK_MINUTES", "15"))),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # Secure cookies whenever the portal is served over HTTPS (FRONTEND_URL says so).
        "SESSION_COOKIE_SECURE": _flag("SESSION_COOKIE_SECURE", default=served_over_https),
        "REMEMBER_COOKIE_SECURE": _flag("SESSION_COOKIE_SECURE", default=served_over_https),
        "FORCE_HTTPS": _flag("FORCE_HTTPS"),
        # Proxies in front that set X-Forwarded-For/-Proto/-Host (1 behind an ingress); 0 trusts none.
        "PROXY_HOPS": int(env("PROXY_HOPS", "0")),
        # Logs: "json" (one object per line, for a log collector) or "text"; each line carries the request id.
        "LOG_FORMAT": env("LOG_FORMAT", "text"),
        "LOG_LEVEL": env("LOG_LEVEL", "INFO"),
        # Who may read /metrics: a bearer token; without one, only this machine (loopback).
        "METRICS_TOKEN": env("METRICS_TOKEN") or None,
        "WORKER_METRICS_PORT": int(env("WORKER_METRICS_PORT", "0")),
        # Rate limits on the doors people knock on (per client address).
        "RATELIMIT_ENABLED": _flag("RATELIMIT_ENABLED", default=True),
        # Counters every web worker shares: Redis, else a SQLite file here (memory:// would count per worker).
        "RATELIMIT_STORAGE_URI": (env("RATELIMIT_STORAGE_URI") or env("REDIS_URL")
                                  or f"sqlite:///{INSTANCE_DIR / 'ratelimits.db'}"),
        "RATELIMIT_HEADERS_ENABLED": True,
        "AUTH_RATE_LIMIT": env("AUTH_RATE_LIMIT", "10 per minute"),
        # Midtrans retries a refused notification; per source address, well above its real rate.
        "WEBHOOK_RATE_LIMIT": env("WEBHOOK_RATE_LIMIT", "600 per minute"),
        "WTF_CSRF_TIME_LIMIT": None,
    }
