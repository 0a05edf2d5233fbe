# Làng Số bot image. Built by docker-compose.yml (services migrate, web-1, web-2, dispatcher);
# also usable alone:
#   docker build -t langso-bot . && docker run -e DATABASE_URL=... -p 8080:8080 langso-bot
#
# Three stages: `base` has the runtime dependencies, `assets` adds the training-only ones
# (scikit-learn, scipy) to build the built-in NLU model and the compiled UI catalogs, and the
# final image is `base` + the project + those files, without the training dependencies.

FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
# ffmpeg (Debian's): translators' recordings converted to OGG/Opus and M4A (bot/voice/audio.py).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg \
 && rm -rf /var/lib/apt/lists/*
# Dependencies in their own layer, rebuilt only when pyproject.toml or constraints.txt change.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
 && pip install -c constraints.txt -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt


FROM base AS assets
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['train']))" > /tmp/train.txt \
 && pip install -c constraints.txt -r /tmp/train.txt
COPY . .
# var/ is not in the build context (.dockerignore): the model and catalogs are made here,
# from nlu/data and content/locales, the same way `make setup` does.
RUN mkdir -p var/nlu var/locales \
 && python -m bot nlu train --data nlu/data --out var/nlu/model.npz \
 && python -m bot i18n compile


FROM base
ENV BOT_HOST=0.0.0.0 \
    BOT_PORT=8080
COPY . .
COPY --from=assets /app/var/nlu var/nlu
COPY --from=assets /app/var/locales var/locales
RUN pip install -c constraints.txt . \
 && useradd --system --user-group --home-dir /app --shell /usr/sbin/nologin langso \
 && mkdir -p var/exports var/media var/voice \
 && chown -R langso:langso var

USER langso
EXPOSE 8080

HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=4 \
  CMD ["python", "-c", "import os, sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('BOT_PORT', '8080'), timeout=4).status == 200 else 1)"]

# Alone (`docker run`): apply the database migrations, then run every role in one process (exec:
# it gets the stop signal as PID 1). docker-compose.yml overrides the command: a one-shot
# migration job, then web processes and a dispatcher (docs/deploy.md).
CMD ["sh", "-c", "python -m bot db upgrade && exec python -m bot run"]
