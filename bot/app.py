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
from bot.availability import Availability
from bot.availability import middleware as availability_middleware
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
from bot.outbox.dispatcher import Dispatcher
from bot.outbox.sender import RetryPolicy, Sender
from bot.outbox.window import ReplyWindow, WindowGate
from bot.storage.db import (
    PoolSettings,
    close_probe,
    create_engine,
    create_sessionmaker,
    health,
    resolve_url,
)
from bot.storage.outage import Outage

log = logging.getLogger("bot.app")
SERVICES_KEY = web.AppKey("services", Services)
WORKER_KEY = web.AppKey("worker", InboundWorker)
ENGINE_KEY = web.AppKey("engine", AsyncEngine)
AVAILABILITY_KEY = web.AppKey("availability", Availability)

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
    db = settings.database_pool
    pool = PoolSettings(
        db.pool_size, db.pool_overflow, db.pool_timeout, db.connect_timeout, db.statement_timeout
    )
    url = resolve_url(database_url or settings.database_url, settings.base_dir)
    engine = create_engine(url, pool)
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
    sent = services.settings.outbox
    if policy is None:
        policy = RetryPolicy(max_attempts=sent.max_attempts, lease_seconds=sent.lease_seconds)
    sender = Sender(services.sessionmaker, policy, pseudonym=services.memory.pseudonym)
    dispatcher = Dispatcher(sender, concurrency=sent.concurrency, batch=sent.batch)
    worker = InboundWorker(pipeline, sender, dispatcher=dispatcher)
    if isinstance(pipeline, Pipeline):  # not for a stand-in (the fuzz tests' recorder)
        from bot.voice.media_step import VoiceMediaStep

        # bot.media's step; a translator's voice message is also converted there (bot/voice).
        worker.media = VoiceMediaStep(services)
    for channel in channels:
        worker.add_channel(channel)
    # The dispatchers' sends share each channel's rate through the database; Zalo rows are
    # checked against the user's reply window and the monthly proactive quota first.
    sender.use_shared_budgets(sent.rate_headroom)
    if "zalo" in sender.channels:
        rule = ReplyWindow(
            sent.zalo_window_hours, sent.zalo_window_messages, sent.zalo_monthly_quota
        )
        dispatcher.gates["zalo"] = WindowGate(services.sessionmaker, "zalo", rule)
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
    if s.zalo_bot.token:
        from bot.channels.zalo_bot import ZaloBotChannel

        channels.append(ZaloBotChannel(s.zalo_bot, content_dir=content_dir))
    for channel in channels:  # where /dulieu files are sent from (bot.privacy.export)
        channel.exports_dir = s.path(s.privacy.export_dir)  # type: ignore[attr-defined]
        channel.voice_dir = s.path(s.voice.dir)  # type: ignore[attr-defined]
        channel.voice_public_url = s.voice.public_url  # type: ignore[attr-defined]
        channel.voice_format = s.voice.web_format  # type: ignore[attr-defined]
    return channels


async def healthz(request: web.Request) -> web.Response:
    """200 {"status": "ok"} or 503 with why: "shutting down", "database unreachable",
    "database locked", "migrating", "pool exhausted". The check uses a connection of its own,
    not the pool's, so a burst of webhooks cannot make it fail."""
    availability = request.app[AVAILABILITY_KEY]
    if availability.stopping:
        return web.json_response({"status": "shutting down"}, status=503)
    engine = request.app[ENGINE_KEY]
    ok, body = await availability.health(lambda: health(engine))
    return web.json_response(body, status=200 if ok else 503)


def build_web_app(
    services: Services,
    engine: AsyncEngine,
    worker: InboundWorker,
    channels: list[Channel] | None = None,
    dashboard: bool | None = None,
) -> web.Application:
    """`dashboard`: mount /staff/ and /open-data/ here (default: unless `staff.port` gives them
    a site of their own, `build_dashboard_app`)."""
    from bot.channels.web import WebChat
    from bot.web.security import install as install_web_security

    app = web.Application(client_max_size=1024 * 1024)
    install_web_security(app, services.settings)  # headers on every response, sessions
    app[SERVICES_KEY] = services
    app[WORKER_KEY] = worker
    app[ENGINE_KEY] = engine
    availability = app[AVAILABILITY_KEY] = Availability(Outage.of(engine))
    app.middlewares.append(availability_middleware(availability))  # 503s: outage, shutdown
    app.router.add_get("/healthz", healthz)
    WebChat(worker, services.settings.path(services.settings.content_dir) / "media").register(app)
    from bot.privacy import web as privacy_web

    privacy_web.register(app, services.settings.path(services.settings.privacy.export_dir))
    from bot.media import web as media_web

    media_web.register(app, worker)  # POST /api/uploads: web chat photos and audio
    from bot.handoff import web as handoff_web

    handoff_web.register(app, services)  # GET /api/handoff/replies: staff replies, asked for
    from bot.voice import web as voice_web

    voice_web.register(app, services)  # GET /voice/<digest>.<ext>: translators' recordings
    if dashboard is None:
        dashboard = not services.settings.staff.port
    if dashboard:
        mount_dashboard(app, services)
    before = {r.canonical for r in app.router.resources()}
    for channel in channels or []:
        channel.register_routes(app)
    availability.webhooks = {r.canonical for r in app.router.resources()} - before

    async def close_engine(_app: web.Application) -> None:
        await close_probe(engine)
        await engine.dispose()

    app.on_cleanup.append(close_engine)
    return app


def mount_dashboard(app: web.Application, services: Services) -> None:
    """The staff dashboard's sub-app at /staff/ (bot/staff/web.py) and the open data's at
    /open-data/, on the web chat's app or on their own (`build_dashboard_app`)."""
    from bot.staff import web as staff_web

    staff_web.mount(app, services)
    from bot.opendata.web import build_open_data_app

    app.add_subapp("/open-data/", build_open_data_app(services))  # public, no login


def build_dashboard_app(
    services: Services, engine: AsyncEngine, availability: Availability | None = None
) -> web.Application:
    """/staff/ and /open-data/ on a site of their own (`staff.host`, `staff.port`), with the
    web app's security headers, session cookie, availability and /healthz."""
    from bot.web.security import install as install_web_security

    app = web.Application(client_max_size=1024 * 1024)
    install_web_security(app, services.settings)
    app[SERVICES_KEY] = services
    app[ENGINE_KEY] = engine
    availability = app[AVAILABILITY_KEY] = availability or Availability(Outage.of(engine))
    app.middlewares.append(availability_middleware(availability))
    app.router.add_get("/healthz", healthz)
    mount_dashboard(app, services)
    return app


def build_health_app(engine: AsyncEngine) -> web.Application:
    """Only `/healthz`: what a dispatcher process serves."""
    from bot.config import WebSettings
    from bot.web.security import security_headers

    app = web.Application()
    app.on_response_prepare.append(security_headers(WebSettings()))  # as on the web app
    app[ENGINE_KEY] = engine
    app[AVAILABILITY_KEY] = Availability(Outage.of(engine))
    app.router.add_get("/healthz", healthz)

    async def close_engine(_app: web.Application) -> None:
        await close_probe(engine)
        await engine.dispose()

    app.on_cleanup.append(close_engine)
    return app


ROLES = ("all", "web", "dispatcher")


async def serve(settings: Settings, console: bool = False, role: str = "all") -> None:
    """Run the bot until interrupted (Ctrl+C or SIGTERM).

    `role`: "all" (the default) receives, handles and sends, and runs the outbox dispatcher and
    the inbound sweep; "web" receives (web chat, webhooks, polling), handles, and sends each
    turn's replies at once (the fast path), without the periodic dispatcher or sweep; a
    "dispatcher" process runs those two for every web process on the same PostgreSQL (retries,
    rows a dead process left, messages left recorded) and serves only `/healthz`, on
    `server.dispatcher_port`. Claims and leases keep N web and M dispatcher processes from
    sending a row twice.

    SIGTERM (and Ctrl+C): stop accepting (webhooks and the web chat answer 503 "shutting down",
    pollers stop fetching, `/healthz` 503), finish the messages in hand and their sends, write
    the sends' marks, and return within `server.shutdown_grace_seconds`; what is not finished by
    then stays recorded and is resumed by the next start.
    """
    if role not in ROLES:
        raise StartupError(f"--role: expected one of {', '.join(ROLES)}, got {role!r}")
    services, engine = build_services(settings)
    pipeline = build_pipeline(services)
    channels = build_channels(services)
    worker = build_worker(pipeline, channels)
    receiving = role != "dispatcher"
    if receiving:
        app = build_web_app(services, engine, worker, channels)
        host, port, env = settings.server.host, settings.server.port, "BOT_PORT"
    else:
        app = build_health_app(engine)
        host, port, env = settings.server.host, settings.server.dispatcher_port, "DISPATCHER_PORT"
    grace = settings.server.shutdown_grace_seconds
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=min(1.0, grace / 4))
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise StartupError(
            f"server: cannot listen on {host}:{port} ({exc.strerror}); set {env} to a free port"
        ) from None
    dashboard_runner = None
    if receiving and settings.staff.port:  # /staff/ and /open-data/ on their own address
        dashboard_runner = web.AppRunner(
            build_dashboard_app(services, engine, app[AVAILABILITY_KEY]),
            access_log=None,
            shutdown_timeout=min(1.0, grace / 4),
        )
        await dashboard_runner.setup()
        staff_host = settings.staff.host or host
        try:
            await web.TCPSite(dashboard_runner, staff_host, settings.staff.port).start()
        except OSError as exc:
            await dashboard_runner.cleanup()
            await runner.cleanup()
            raise StartupError(
                f"staff: cannot listen on {staff_host}:{settings.staff.port} ({exc.strerror}); "
                "set STAFF_PORT to a free port"
            ) from None
        log.info("staff dashboard on http://%s:%s/staff/", staff_host, settings.staff.port)
    if receiving:
        log.info("web chat on http://%s:%s/ (role %s)", host, port, role)
        print(f"Làng Số is running: web chat on http://{host}:{port}/ (Ctrl+C stops)", flush=True)
    else:
        log.info("dispatcher running; /healthz on http://%s:%s/healthz", host, port)
        print(f"Làng Số dispatcher is running: http://{host}:{port}/healthz", flush=True)
    from bot.privacy.retention import PrivacyJobs

    privacy_jobs = PrivacyJobs(services.sessionmaker, settings, ordering=services.ordering)
    from bot.flows.forms.reminders import FormJobs

    form_jobs = FormJobs(services)  # abandoned forms: reminded once, then expired
    from bot.notices.reminders import NoticeJobs

    notice_jobs = NoticeJobs(services)  # the reminder before a training, to those who said yes
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stopped.set)
    try:
        if receiving:
            for channel in channels:
                await channel.start(worker)
                log.info("channel %s started", channel.name)
        await worker.start(background=role != "web")
        if role != "web":
            privacy_jobs.start()  # exports past their time to live; the retention purge, daily
            form_jobs.start()
            notice_jobs.start()
        if console and receiving:
            from bot.channels.console import run_console

            console_task = asyncio.create_task(run_console(worker))
            stop_task = asyncio.create_task(stopped.wait())
            await asyncio.wait({console_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
            for task in (console_task, stop_task):
                task.cancel()
        else:
            await stopped.wait()
    finally:
        deadline = loop.time() + grace

        def left() -> float:
            return max(0.1, deadline - loop.time())

        log.info("stopping: finishing what is in hand (at most %.0f s)", grace)
        app[AVAILABILITY_KEY].stop_accepting()  # webhooks, web chat, /healthz: 503
        worker.stop_accepting()  # pollers fetch no more
        await privacy_jobs.stop()
        await form_jobs.stop()
        await notice_jobs.stop()
        # The turns and sends under way finish, and their marks are written; the rest stay
        # recorded for the next start.
        await worker.stop(grace=max(0.1, left() - 1.5))  # the rest: channels, HTTP, engine
        await app[AVAILABILITY_KEY].finish_background(min(0.5, left()))
        for channel in channels:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(channel.stop(), left())
        if dashboard_runner is not None:
            await dashboard_runner.cleanup()
        await runner.cleanup()
        close = getattr(services.nlu, "close", None)
        if close is not None:
            await close()
        log.info("stopped")


def project_root() -> Path:
    return Path(__file__).resolve().parent.parent
