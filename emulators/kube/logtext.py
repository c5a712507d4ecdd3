"""What the synthetic logs say: per-app start-up lines, steady chatter, and the error a crashing app dies with."""
import datetime as dt

# A line template is a function (rng, wall time) -> text, so lines can carry the app's own time format.


def app_of(image: str) -> str:
    name = image.lower().split("@")[0].rsplit("/", 1)[-1].split(":")[0]
    for app, words in (("n8n", ("n8n",)), ("ghost", ("ghost",)), ("wordpress", ("wordpress", "apache", "httpd")),
                       ("mysql", ("mysql", "mariadb")), ("postgres", ("postgres", "postgis"))):
        if any(word in name for word in words):
            return app
    return "generic"


def _ghost(t: dt.datetime) -> str:
    return t.strftime("[%Y-%m-%d %H:%M:%S]")


def _apache_error(t: dt.datetime) -> str:
    return t.strftime("[%a %b %d %H:%M:%S.") + f"{t.microsecond:06d} {t.year}]"


def _apache_access(t: dt.datetime) -> str:
    return t.strftime("[%d/%b/%Y:%H:%M:%S +0000]")


def _mysql(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}Z"


def _postgres(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S.") + f"{t.microsecond // 1000:03d} UTC"


_WORKFLOWS = ["Lead intake", "Daily report", "Invoice sync", "Slack alerts", "CRM backup", "Newsletter signup"]
_PATHS = ["/", "/about/", "/blog/", "/contact/", "/tag/news/", "/rss/", "/sitemap.xml", "/pricing/"]
_AGENTS = ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/131.0 Safari/537.36",
           "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
           "kube-probe/1.34", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"]


def _client_ip(rng) -> str:
    return f"10.244.{rng.randint(0, 3)}.{rng.randint(2, 250)}"


BOOT = {
    "n8n": [lambda r, t: "Initializing n8n process",
            lambda r, t: "Migrations in progress, please do NOT stop the process.",
            lambda r, t: "Finished migrations.",
            lambda r, t: "Version: 1.70.3",
            lambda r, t: "n8n ready on ::, port 5678",
            lambda r, t: "",
            lambda r, t: "Editor is now accessible via:",
            lambda r, t: "http://localhost:5678"],
    "ghost": [lambda r, t: f"{_ghost(t)} INFO Ghost is running in production...",
              lambda r, t: f"{_ghost(t)} INFO Your site is now available on http://localhost:2368/",
              lambda r, t: f"{_ghost(t)} INFO Ctrl+C to shut down",
              lambda r, t: f"{_ghost(t)} INFO Database is in a ready state.",
              lambda r, t: f"{_ghost(t)} INFO Ghost booted in {r.uniform(2, 6):.3f}s",
              lambda r, t: f"{_ghost(t)} INFO Adding offloaded job to the inline job queue"],
    "wordpress": [lambda r, t: "WordPress not found in /var/www/html - copying now...",
                  lambda r, t: "Complete! WordPress has been successfully copied to /var/www/html",
                  lambda r, t: f"AH00558: apache2: Could not reliably determine the server's fully qualified domain "
                               f"name, using {_client_ip(r)}. Set the 'ServerName' directive globally to suppress "
                               f"this message",
                  lambda r, t: f"{_apache_error(t)} [mpm_prefork:notice] [pid 1:tid 1] AH00163: Apache/2.4.62 "
                               f"(Debian) PHP/8.2.26 configured -- resuming normal operations",
                  lambda r, t: f"{_apache_error(t)} [core:notice] [pid 1:tid 1] AH00094: Command line: "
                               f"'apache2 -D FOREGROUND'"],
    "mysql": [lambda r, t: f"{_mysql(t)}+00:00 [Note] [Entrypoint]: Entrypoint script for MySQL Server 8.0.40 started.",
              lambda r, t: f"{_mysql(t)} 0 [System] [MY-010116] [Server] /usr/sbin/mysqld (mysqld 8.0.40) starting "
                           f"as process 1",
              lambda r, t: f"{_mysql(t)} 1 [System] [MY-013576] [InnoDB] InnoDB initialization has started.",
              lambda r, t: f"{_mysql(t)} 1 [System] [MY-013577] [InnoDB] InnoDB initialization has ended.",
              lambda r, t: f"{_mysql(t)} 0 [System] [MY-010931] [Server] /usr/sbin/mysqld: ready for connections. "
                           f"Version: '8.0.40'  socket: '/var/run/mysqld/mysqld.sock'  port: 3306  MySQL Community "
                           f"Server - GPL."],
    "postgres": [lambda r, t: "PostgreSQL Database directory appears to contain a database; Skipping initialization",
                 lambda r, t: f"{_postgres(t)} [1] LOG:  starting PostgreSQL 16.4 (Debian 16.4-1.pgdg120+2) on "
                              f"x86_64-pc-linux-gnu, compiled by gcc (Debian 12.2.0-14) 12.2.0, 64-bit",
                 lambda r, t: f'{_postgres(t)} [1] LOG:  listening on IPv4 address "0.0.0.0", port 5432',
                 lambda r, t: f'{_postgres(t)} [1] LOG:  listening on Unix socket '
                              f'"/var/run/postgresql/.s.PGSQL.5432"',
                 lambda r, t: f"{_postgres(t)} [29] LOG:  database system was shut down at "
                              f"{_postgres(t - dt.timedelta(minutes=3))}",
                 lambda r, t: f"{_postgres(t)} [1] LOG:  database system is ready to accept connections"],
    "generic": [lambda r, t: "Starting application",
                lambda r, t: "Loaded configuration from environment",
                lambda r, t: "Listening on 0.0.0.0:8080"],
    "init": [lambda r, t: "Preparing volumes and permissions",
             lambda r, t: "Done."],
}

STEADY = {
    "n8n": [lambda r, t: f'Workflow "{r.choice(_WORKFLOWS)}" (ID: {r.randint(1, 40)}) executed successfully '
                         f'(execution {r.randint(1000, 99999)}, {r.randint(40, 2500)}ms)',
            lambda r, t: f'Received request for "POST /webhook/{r.getrandbits(64):016x}"',
            lambda r, t: "Pruning execution data older than 336 hours",
            lambda r, t: f"Polling trigger fired for workflow \"{r.choice(_WORKFLOWS)}\""],
    "ghost": [lambda r, t: f'{_ghost(t)} INFO "GET {r.choice(_PATHS)}" 200 {r.randint(3, 120)}ms',
              lambda r, t: f'{_ghost(t)} INFO "GET /assets/built/screen.css?v={r.getrandbits(40):010x}" 200 '
                           f'{r.randint(1, 9)}ms',
              lambda r, t: f'{_ghost(t)} INFO "GET /ghost/api/admin/site/" 200 {r.randint(5, 60)}ms',
              lambda r, t: f'{_ghost(t)} INFO "GET /favicon.ico" 200 {r.randint(1, 5)}ms'],
    "wordpress": [lambda r, t: f'{_client_ip(r)} - - {_apache_access(t)} "GET {r.choice(_PATHS)} HTTP/1.1" 200 '
                               f'{r.randint(3000, 60000)} "-" "{r.choice(_AGENTS)}"',
                  lambda r, t: f'{_client_ip(r)} - - {_apache_access(t)} "POST /wp-admin/admin-ajax.php HTTP/1.1" '
                               f'200 {r.randint(40, 900)} "-" "{r.choice(_AGENTS)}"',
                  lambda r, t: f'{_client_ip(r)} - - {_apache_access(t)} "GET /wp-login.php HTTP/1.1" 200 '
                               f'{r.randint(4000, 7000)} "-" "{r.choice(_AGENTS)}"'],
    "mysql": [lambda r, t: f"{_mysql(t)} {r.randint(8, 90)} [Note] [MY-010914] [Server] Aborted connection "
                           f"{r.randint(8, 900)} to db: 'app' user: 'app' host: '{_client_ip(r)}' (Got an error "
                           f"reading communication packets).",
              lambda r, t: f"{_mysql(t)} 0 [Note] [MY-011953] [InnoDB] Page cleaner took {r.randint(4000, 9000)}ms "
                           f"to flush {r.randint(10, 400)} pages"],
    "postgres": [lambda r, t: f"{_postgres(t)} [27] LOG:  checkpoint starting: time",
                 lambda r, t: f"{_postgres(t)} [27] LOG:  checkpoint complete: wrote {r.randint(1, 90)} buffers "
                              f"({r.random():.1f}%); 0 WAL file(s) added, 0 removed, 0 recycled; "
                              f"write={r.uniform(0, 9):.3f} s, sync={r.uniform(0, 0.1):.3f} s",
                 lambda r, t: f"{_postgres(t)} [{r.randint(100, 9999)}] LOG:  connection received: "
                              f"host={_client_ip(r)} port={r.randint(30000, 60000)}"],
    "generic": [lambda r, t: f"GET /healthz 200 {r.uniform(0.1, 2):.1f}ms",
                lambda r, t: f"GET / 200 {r.uniform(1, 40):.1f}ms",
                lambda r, t: f"processed job {r.randint(1, 99999)} in {r.randint(2, 800)}ms"],
    "init": [lambda r, t: "Waiting"],
}

CRASH = {
    "n8n": [lambda r, t: "There was an error initializing DB",
            lambda r, t: f"Error: connect ECONNREFUSED 10.96.0.{r.randint(2, 200)}:5432"],
    "ghost": [lambda r, t: f"{_ghost(t)} ERROR Invalid database host.",
              lambda r, t: "Error ID: 500, Error Code: ECONNREFUSED"],
    "wordpress": [lambda r, t: "Warning: mysqli::__construct(): (HY000/2002): Connection refused in Standard input "
                               "code on line 22",
                  lambda r, t: "MySQL Connection Error: (2002) Connection refused"],
    "mysql": [lambda r, t: f"{_mysql(t)} 1 [ERROR] [MY-012574] [InnoDB] Unable to lock ./ibdata1 error: 11",
              lambda r, t: f"{_mysql(t)} 0 [ERROR] [MY-010119] [Server] Aborting"],
    "postgres": [lambda r, t: f'{_postgres(t)} [1] FATAL:  data directory "/var/lib/postgresql/data" has invalid '
                              f'permissions',
                 lambda r, t: f"{_postgres(t)} [1] DETAIL:  Permissions should be u=rwx (0700) or u=rwx,g=rx (0750)."],
    "generic": [lambda r, t: "fatal: unable to start: dial tcp 10.96.0.10:5432: connect: connection refused",
                lambda r, t: "exit status 1"],
    "init": [lambda r, t: "exit status 1"],
}

RATE = {"n8n": 2.0, "ghost": 2.0, "wordpress": 3.0, "mysql": 1.0, "postgres": 1.0, "generic": 2.0, "init": 0.0}
