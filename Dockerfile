# StemBank image: one image for web (gunicorn), Celery worker and Celery beat.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DEBUG=false
RUN apt-get update && apt-get install -y --no-install-recommends gettext fonts-noto-cjk && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY . .
RUN pip install --no-cache-dir . && SECRET_KEY=build-only-build-only-build-only-build-only-build-only-x \
    ALLOWED_HOSTS=build python manage.py collectstatic --noinput
RUN useradd --system --home /app stembank && mkdir -p /app/var && chown -R stembank /app/var
USER stembank
EXPOSE 8000
CMD ["gunicorn", "bank.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
