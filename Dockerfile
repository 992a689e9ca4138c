# StemBank image: one image for the one-shot migrate, web (gunicorn), Celery worker, Celery beat and backups.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DEBUG=false
# postgresql-client: pg_dump / pg_restore for manage.py backup and restore (Debian 12's is 15, as the db image).
RUN apt-get update && apt-get install -y --no-install-recommends gettext fonts-noto-cjk postgresql-client \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY . .
RUN pip install --no-cache-dir . && SECRET_KEY=build-only-build-only-build-only-build-only-build-only-x \
    ALLOWED_HOSTS=build python manage.py collectstatic --noinput
RUN useradd --system --home /app stembank && mkdir -p /app/var /backups && chown -R stembank /app/var /backups \
    && chmod 700 /backups
USER stembank
EXPOSE 8000
# As docker-compose.yml's web service: gthread workers, so --timeout never cuts a long streamed export.
CMD ["gunicorn", "bank.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--worker-class", "gthread", \
     "--threads", "1", "--timeout", "30", "--keep-alive", "75"]
