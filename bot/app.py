"""Application wiring: build the long-lived services, the pipeline, the channels and the worker.

```
channel adapters (parse, verify, send)
   -> InboundWorker (bot/inbound): record, in order per user, handle, retry, resume
   -> Pipeline (bot/core): middlewares, dialogue -> actions/flows; replies as outbox rows
   -> Sender + Dispatcher (bot/outbox): rate limits, retries, delivery through the adapter
```
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

import actions  # noqa: F401 - registers the actions
from bot.channels.base import Channel
from bot.config import Settings
from bot.content import Content, load_content
from bot.core.dialogue import dialogue
from bot.core.memory import SessionMemory
from bot.core.middlewares import DEFAULT_MIDDLEWARES
from bot.core.pipeline import Pipeline
from bot.core.services import Services
from bot.errors import StartupError
from bot.i18n import Catalogs
from bot.inbound.worker import InboundWorker
from bot.outbox.sender import RetryPolicy, Sender
from bot.storage.db import create_engine, create_sessionmaker, is_healthy, resolve_url

log = logging.getLogger("bot.app")
SERVICES_KEY = web.AppKey("services", Services)
WORKER_KEY = web.AppKey("worker", InboundWorker)
ENGINE_KEY = web.AppKey("engine", AsyncEngine)

__all__ = ["StartupError", "build_services", "build_pipeline", "build_worker", "build_web_app"]


def build_nlu(settings: Settings, content: Content):
    """The configured NLU engine over the content's items (`nlu` takes values, not settings)."""
    cfg = settings.nlu
    if cfg.engine == "rasa":
        from nlu.rasa_backend import RasaEngine

        return RasaEngine(
            cfg.rasa_url,
            content.items,
            timeout=cfg.rasa_timeout,
            data=cfg.data,
            base_dir=settings.base_dir,
            intent_threshold=cfg.intent_threshold,
            answer_threshold=cfg.answer_threshold,
        )
    from nlu.engine import BuiltinEngine

    model = settings.path(cfg.model)
    if not model.is_file():
        raise StartupError(
            f"nlu.model: {model} not found; build it with `python -m bot nlu train` "
            "(make setup does)"
        )
    return BuiltinEngine.load(
        model,
        content.items,
        intent_threshold=cfg.intent_threshold,
        answer_threshold=cfg.answer_threshold,
    )


def build_services(
    settings: Settings, database_url: str | None = None
) -> tuple[Services, AsyncEngine]:
    content = load_content(settings.path(settings.content_dir))
    if content.errors:
        raise StartupError(
            "content has errors; run `python -m bot content check`:\n"
            + "\n".join(f"  - {p}" for p in content.errors[:10])
        )
    engine = create_engine(resolve_url(database_url or settings.database_url, settings.base_dir))
    from bot import crypto

    crypto.configure(settings)  # the channel tokens' keys, loaded when first used
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
    return Pipeline(
        services,
        list(DEFAULT_MIDDLEWARES),
        dialogue,
        max_transactions=services.settings.database_max_transactions,
    )


def build_worker(
    pipeline: Pipeline,
    channels: list[Channel] | tuple[Channel, ...] = (),
    policy: RetryPolicy | None = None,
) -> InboundWorker:
    """The inbound worker and the sender core for `channels`."""
    services = pipeline.services
    sender = Sender(services.sessionmaker, policy, pseudonym=services.memory.pseudonym)
    worker = InboundWorker(pipeline, sender)
    for channel in channels:
        worker.add_channel(channel)
    return worker


def build_channels(services: Services) -> list[Channel]:
    """The platform channels that config.yml enables (a token / app id set)."""
    channels: list[Channel] = []
    s = services.settings
    content_dir = s.path(s.content_dir)
    if s.telegram.token:
        from bot.channels.telegram import TelegramChannel

        channels.append(TelegramChannel(s.telegram, content_dir=content_dir))
    if s.zalo.app_id:
        from bot.channels.zalo import ZaloChannel

        channels.append(ZaloChannel(s.zalo, services.sessionmaker, content_dir=content_dir))
    for channel in channels:  # where /dulieu files are sent from (bot.privacy.export)
        channel.exports_dir = s.path(s.privacy.export_dir)  # type: ignore[attr-defined]
    return channels


async def healthz(request: web.Request) -> web.Response:
    ok = await is_healthy(request.app[ENGINE_KEY])
    return web.json_response(
        {"status": "ok" if ok else "database unreachable"}, status=200 if ok else 503
    )


def build_web_app(
    services: Services,
    engine: AsyncEngine,
    worker: InboundWorker,
    channels: list[Channel] | None = None,
) -> web.Application:
    from bot.channels.web import WebChat
    from bot.web.security import install as install_web_security

    app = web.Application(client_max_size=1024 * 1024)
    install_web_security(app, services.settings)  # headers on every response, sessions
    app[SERVICES_KEY] = services
    app[WORKER_KEY] = worker
    app[ENGINE_KEY] = engine
    app.router.add_get("/healthz", healthz)
    WebChat(worker, services.settings.path(services.settings.content_dir) / "media").register(app)
    from bot.privacy import web as privacy_web

    privacy_web.register(app, services.settings.path(services.settings.privacy.export_dir))
    for channel in channels or []:
        channel.register_routes(app)

    async def close_engine(_app: web.Application) -> None:
        await engine.dispose()

    app.on_cleanup.append(close_engine)
    return app


async def serve(settings: Settings, console: bool = False) -> None:
    """Run the bot until interrupted (Ctrl+C or SIGTERM): web chat, health, channels, console."""
    services, engine = build_services(settings)
    pipeline = build_pipeline(services)
    channels = build_channels(services)
    worker = build_worker(pipeline, channels)
    app = build_web_app(services, engine, worker, channels)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.server.host, settings.server.port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise StartupError(
            f"server.port: cannot listen on {settings.server.host}:"
            f"{settings.server.port} ({exc.strerror}); set BOT_PORT to a free port"
        ) from None
    log.info("web chat on http://%s:%s/", settings.server.host, settings.server.port)
    print(
        f"Làng Số is running: web chat on http://{settings.server.host}:{settings.server.port}/ "
        "(Ctrl+C stops)",
        flush=True,
    )
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, stopped.set)
    try:
        for channel in channels:
            await channel.start(worker)
            log.info("channel %s started", channel.name)
        await worker.start()
        if console:
            from bot.channels.console import run_console

            console_task = asyncio.create_task(run_console(worker))
            stop_task = asyncio.create_task(stopped.wait())
            await asyncio.wait({console_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
            for task in (console_task, stop_task):
                task.cancel()
        else:
            await stopped.wait()
    finally:
        await worker.stop()  # the turns and sends under way finish; the rest stay recorded
        for channel in channels:
            await channel.stop()
        await runner.cleanup()
        close = getattr(services.nlu, "close", None)
        if close is not None:
            await close()


def project_root() -> Path:
    return Path(__file__).resolve().parent.parent
