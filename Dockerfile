# Làng Số bot image. Built by docker-compose.yml (service `bot`); also usable alone:
#   docker build -t langso-bot . && docker run -e DATABASE_URL=... -p 8080:8080 langso-bot
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BOT_HOST=0.0.0.0 \
    BOT_PORT=8080

WORKDIR /app

# Dependencies first, in their own layer: it is rebuilt only when pyproject.toml or
# constraints.txt change, not on every source edit.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
 && pip install -c constraints.txt -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

# The project itself (see .dockerignore for what stays out: .venv, var, .git, tests, ...).
COPY . .
RUN pip install -c constraints.txt . \
 && useradd --system --user-group --home-dir /app --shell /usr/sbin/nologin langso \
 && mkdir -p var \
 && chown -R langso:langso var

USER langso
EXPOSE 8080

HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=4 \
  CMD ["python", "-c", "import os, sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('BOT_PORT', '8080'), timeout=4).status == 200 else 1)"]

# Apply the database migrations, then run the bot (exec: it gets the stop signal as PID 1).
CMD ["sh", "-c", "python -m bot db upgrade && exec python -m bot run"]
