"""Application wiring: build the long-lived services, the pipeline and the aiohttp app."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from aiohttp import web

from bot.config import Settings
from bot.content import load_content
from bot.dialogue import dialogue
from bot.i18n import Catalogs
from bot.middlewares import DEFAULT_MIDDLEWARES, SessionMemory
from bot.pipeline import Pipeline, Services
from bot.storage.db import create_engine, create_sessionmaker, is_healthy, resolve_url

log = logging.getLogger("bot.app")
SERVICES_KEY = web.AppKey("services", Services)
PIPELINE_KEY = web.AppKey("pipeline", Pipeline)
ENGINE_KEY = web.AppKey("engine", object)


class StartupError(Exception):
    """Something the operator must fix before the bot can start; the message says what."""


def build_nlu(settings: Settings, content):  # noqa: ANN001, ANN201
    if settings.nlu.engine == "rasa":
        from nlu.rasa_backend import RasaEngine

        return RasaEngine(settings.nlu, content)
    from nlu.engine import BuiltinEngine

    model = settings.path(settings.nlu.model)
    if not model.is_file():
        raise StartupError(f"nlu.model: {model} not found; build it with `python -m bot nlu train` (make setup does)")
    return BuiltinEngine.load(model, content, intent_threshold=settings.nlu.intent_threshold,
                              answer_threshold=settings.nlu.answer_threshold)


def build_services(settings: Settings, database_url: str | None = None) -> tuple[Services, object]:
    content = load_content(settings.path(settings.content_dir))
    if content.errors:
        raise StartupError("content has errors; run `python -m bot content check`:\n"
                           + "\n".join(f"  - {p}" for p in content.errors[:10]))
    engine = create_engine(resolve_url(database_url or settings.database_url, settings.base_dir))
    services = Services(
        settings=settings,
        content=content,
        nlu=build_nlu(settings, content),
        catalogs=Catalogs(settings.path("content/locales"), settings.path("var/locales")),
        sessionmaker=create_sessionmaker(engine),
        memory=SessionMemory(settings.privacy.pseudonym_key),
    )
    return services, engine


def build_pipeline(services: Services) -> Pipeline:
    return Pipeline(services, list(DEFAULT_MIDDLEWARES), dialogue,
                    max_transactions=services.settings.database_max_transactions)


async def healthz(request: web.Request) -> web.Response:
    ok = await is_healthy(request.app[ENGINE_KEY])
    return web.json_response({"status": "ok" if ok else "database unreachable"}, status=200 if ok else 503)


def build_channels(services: Services, pipeline: Pipeline) -> list:
    """The platform channels that config.yml enables (a token / app id set)."""
    channels: list = []
    s = services.settings
    if s.telegram.token:
        from bot.channels.telegram import TelegramChannel

        channels.append(TelegramChannel(s.telegram, pipeline, services.sessionmaker))
    if s.zalo.app_id:
        from bot.channels.zalo import ZaloChannel

        channels.append(ZaloChannel(s.zalo, pipeline, services.sessionmaker))
    return channels


def build_web_app(services: Services, engine, pipeline: Pipeline, channels: list | None = None) -> web.Application:  # noqa: ANN001
    from bot.channels.web import WebChat

    app = web.Application(client_max_size=1024 * 1024)
    app[SERVICES_KEY] = services
    app[PIPELINE_KEY] = pipeline
    app[ENGINE_KEY] = engine
    app.router.add_get("/healthz", healthz)
    WebChat(pipeline, services.settings.path(services.settings.content_dir) / "media").register(app)
    for channel in channels or []:
        channel.register_routes(app)

    async def close_engine(_app: web.Application) -> None:
        await engine.dispose()

    app.on_cleanup.append(close_engine)
    return app


async def serve(settings: Settings, console: bool = False) -> None:
    """Run the bot until interrupted: web chat and health on host:port, console if asked."""
    services, engine = build_services(settings)
    pipeline = build_pipeline(services)
    channels = build_channels(services, pipeline)
    app = build_web_app(services, engine, pipeline, channels)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.server.host, settings.server.port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise StartupError(f"server.port: cannot listen on {settings.server.host}:{settings.server.port} ({exc.strerror}); "
                           "set BOT_PORT to a free port") from None
    log.info("web chat on http://%s:%s/", settings.server.host, settings.server.port)
    print(f"Làng Số is running: web chat on http://{settings.server.host}:{settings.server.port}/ (Ctrl+C stops)", flush=True)
    try:
        for channel in channels:
            await channel.start()
            log.info("channel %s started", channel.name)
        if console:
            from bot.channels.console import run_console

            await run_console(pipeline)
        else:
            await asyncio.Event().wait()
    finally:
        for channel in channels:
            await channel.stop()
        await runner.cleanup()
        close = getattr(services.nlu, "close", None)
        if close is not None:
            await close()


def project_root() -> Path:
    return Path(__file__).resolve().parent.parent
