# syntax=docker/dockerfile:1
# The portal's one image. docker/entrypoint.sh picks the role: `web` (gunicorn on 8000, the default),
# `worker` (the Huey consumer), `migrate` (schema and catalog), `wait-migrations`; anything else runs
# as given (`flask create-staff ...`). Build: `docker build -t portal .`; run: docs/operations.md.

# 1. Front-end packages from npm, copied exactly as the Makefile's static/vendor/* targets do.
FROM node:20-bookworm-slim AS assets
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund \
 && mkdir -p static/vendor \
 && cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx.min.js \
 && cp node_modules/bootstrap/dist/css/bootstrap.min.css static/vendor/bootstrap.min.css \
 && cp node_modules/bootstrap/dist/js/bootstrap.bundle.min.js static/vendor/bootstrap.bundle.min.js

# 2. The pinned Python packages (requirements.txt) in a virtualenv, less the test and benchmark
#    tools and checkers that nothing at run time imports (tests/ops/test_image.py checks that).
FROM python:3.11-slim-bookworm AS build
ARG DEV_ONLY_PACKAGES="playwright pytest pytest-playwright pytest-xdist hypothesis aiosmtpd py-spy pyinstrument ruff import-linter grimp"
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements.txt /tmp/requirements.txt
RUN python -m venv /opt/venv \
 && pattern="$(printf '%s|' $DEV_ONLY_PACKAGES)" \
 && grep -viE "^(${pattern%|})==" /tmp/requirements.txt > /tmp/runtime-requirements.txt \
 && /opt/venv/bin/pip install -r /tmp/runtime-requirements.txt

# 3. What runs: the venv, the app, the assets; as an unprivileged user, code read-only to it.
FROM python:3.11-slim-bookworm AS runtime
RUN groupadd --system --gid 10001 portal \
 && useradd --system --uid 10001 --gid portal --home-dir /app --no-create-home --shell /usr/sbin/nologin portal
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    APP_DIR=/app \
    FLASK_APP=wsgi \
    PORTAL_INSTANCE_DIR=/app/instance \
    PORT=8000
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY wsgi.py gunicorn.conf.py ./
COPY portal/ portal/
COPY templates/ templates/
COPY static/ static/
COPY service-templates/ service-templates/
COPY migrations/ migrations/
COPY --from=assets /build/static/vendor/ static/vendor/
COPY --chmod=0755 docker/entrypoint.sh docker/entrypoint.sh
RUN python -m compileall -q portal migrations wsgi.py \
 && mkdir -p instance \
 && chown portal:portal instance
USER 10001:10001
EXPOSE 8000
ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["web"]
