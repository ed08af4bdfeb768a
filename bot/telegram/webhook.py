"""``articlebot telegram --webhook URL``: a small tornado server that takes Telegram's updates.

Why not python-telegram-bot's ``run_webhook``: a deployment needs two things it lacks - a health
endpoint a load balancer, systemd watchdog or uptime check can poll without a Telegram
account, and control over how requests are refused and logged. The rest is the same contract:

- ``POST <webhook_path>`` (``/telegram``) takes an update only when the request carries the
  secret in ``X-Telegram-Bot-Api-Secret-Token`` (Telegram sends what ``setWebhook`` was given).
  Without it the answer is 403 and the body is never read, let alone parsed: anyone can find
  the URL, only Telegram knows the secret. An accepted update is queued on the Application and
  answered 200 at once; Telegram waits for that 200, not for the bot's reply.
- ``GET /health`` answers 200 with JSON (status, corpus size, when the index was built, uptime,
  updates accepted and refused) while the bot runs, 503 while it stops; it holds no secret.
- ``serve`` registers the webhook (``setWebhook`` with the secret) only once the server listens,
  and stops on SIGTERM or SIGINT: no new requests, queued updates answered, then exit. The
  webhook stays registered, so Telegram keeps updates during a restart and delivers them after.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import signal
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import tornado.httpserver
import tornado.netutil
import tornado.web
from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application

from bot.errors import ConfigError
from bot.search.library import Library

log = logging.getLogger(__name__)
access_log = logging.getLogger("bot.telegram.webhook.access")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
HEALTH_PATH = "/health"
MAX_UPDATE_BYTES = 1 << 20
"""Telegram's updates are a few kilobytes; anything near a megabyte is not from Telegram."""
_SECRET_SHAPE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
"""What setWebhook accepts as secret_token (Telegram refuses anything else)."""

Health = Callable[[], Mapping[str, Any]]


def corpus_health(library: Library) -> dict[str, Any]:
    """The corpus part of /health: counts and when the index was built (UTC), nothing private."""
    return {"articles": len(library.articles), "paragraphs": library.paragraph_count,
            "skipped_files": len(library.report.skipped),
            "index_built_at": datetime.fromtimestamp(library.built_at, UTC).isoformat(timespec="seconds")}


class Webhook:
    """The HTTP side of a webhook bot: start() listens and registers, stop() drains and closes."""

    def __init__(self, application: Application, *, url: str, secret: str,  # type: ignore[type-arg]
                 listen: str = "127.0.0.1", port: int = 8443, path: str = "/telegram",
                 health: Health | None = None) -> None:
        if not _SECRET_SHAPE.fullmatch(secret):
            raise ConfigError("TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, '_' "
                              "or '-' (Telegram refuses others)")
        if not path.startswith("/") or path == HEALTH_PATH:
            raise ConfigError(f"webhook_path must start with / and differ from {HEALTH_PATH}: {path!r}")
        self.application = application
        self.url, self.listen, self.path = url, listen, path
        self.port = port
        self._secret = secret.encode()
        self._health = health
        self.accepted = 0
        self.refused = 0
        self._started = time.monotonic()
        self._server: tornado.httpserver.HTTPServer | None = None

    # -- requests -------------------------------------------------------------------------------

    def authentic(self, header: str | None) -> bool:
        """Whether a request carries the secret (compared in constant time)."""
        return header is not None and hmac.compare_digest(header.encode("utf-8", "replace"), self._secret)

    async def accept(self, body: bytes) -> bool:
        """Queue one update from a request body; False when it is not an update."""
        try:
            data = json.loads(body)
            if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
                raise TypeError("not an update")
            update = Update.de_json(data, self.application.bot)
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            log.warning("webhook request refused: malformed update (%s)", type(error).__name__)
            return False
        await self.application.update_queue.put(update)
        self.accepted += 1
        return True

    def health(self) -> dict[str, Any]:
        """What GET /health shows; ``status`` is ``ok`` only while updates are being processed."""
        body: dict[str, Any] = {"status": "ok" if self.application.running else "stopping"}
        if self._health is not None:
            body.update(self._health())
        body.update(uptime_s=round(time.monotonic() - self._started, 1),
                    updates={"accepted": self.accepted, "refused": self.refused})
        return body

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Initialize the Application, listen, then tell Telegram where to post and with what secret.

        Listening comes before setWebhook so that Telegram's first post finds the server up.
        """
        application = self.application
        await application.initialize()
        if application.post_init:
            await application.post_init(application)
        await application.start()
        try:
            sockets = tornado.netutil.bind_sockets(self.port, self.listen)
        except OSError as error:
            await self._stop_application()
            raise ConfigError(f"cannot listen on {self.listen}:{self.port} ({error.strerror})") from None
        self.port = sockets[0].getsockname()[1]
        routes = [(re.escape(self.path), _UpdateHandler, {"hook": self}),
                  (re.escape(HEALTH_PATH), _HealthHandler, {"hook": self})]
        web = tornado.web.Application(routes, log_function=_log_request)  # type: ignore[arg-type]
        self._server = tornado.httpserver.HTTPServer(web, xheaders=True, max_body_size=MAX_UPDATE_BYTES)
        self._server.add_sockets(sockets)
        self._started = time.monotonic()
        try:
            await application.bot.set_webhook(url=self.url, secret_token=self._secret.decode(),
                                              allowed_updates=Update.ALL_TYPES)
        except TelegramError as error:
            await self.stop()
            message = str(error).replace(application.bot.token, "<token>")
            raise ConfigError(f"Telegram refused the webhook {self.url}: {message}") from None
        log.info("webhook %s registered; listening on %s:%d%s, health on %s", self.url, self.listen,
                 self.port, self.path, HEALTH_PATH)

    async def stop(self) -> None:
        """Refuse new connections, answer the updates already queued, shut the Application down."""
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()
            self._server = None
        await self._stop_application()
        log.info("webhook server stopped")

    async def _stop_application(self) -> None:
        application = self.application
        if application.running:
            await application.stop()
            if application.post_stop:
                await application.post_stop(application)
        await application.shutdown()
        if application.post_shutdown:
            await application.post_shutdown(application)


@tornado.web.stream_request_body
class _UpdateHandler(tornado.web.RequestHandler):
    """POST <webhook_path>: the secret is checked on the headers, before any of the body is read."""

    hook: Webhook

    def initialize(self, hook: Webhook) -> None:
        self.hook = hook
        self._chunks: list[bytes] = []

    def prepare(self) -> None:
        if self.request.method != "POST":
            raise tornado.web.HTTPError(405)
        if not self.hook.authentic(self.request.headers.get(SECRET_HEADER)):
            self.hook.refused += 1
            log.warning("webhook request from %s refused: missing or wrong secret token", self.request.remote_ip)
            self.send_error(403)

    def data_received(self, chunk: bytes) -> None:
        self._chunks.append(chunk)

    async def post(self) -> None:
        if await self.hook.accept(b"".join(self._chunks)):
            self.set_status(200)
            self.finish()
        else:
            self.send_error(400)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """A one-line reason, never a traceback or the request echoed back."""
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(f"{status_code} {self._reason}\n")


class _HealthHandler(tornado.web.RequestHandler):
    """GET /health: 200 and JSON while serving, 503 while stopping."""

    hook: Webhook

    def initialize(self, hook: Webhook) -> None:
        self.hook = hook

    def get(self) -> None:
        body = self.hook.health()
        self.set_status(200 if body["status"] == "ok" else 503)
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body, ensure_ascii=False))


def _log_request(handler: tornado.web.RequestHandler) -> None:
    """Access lines: every update at DEBUG (one per message is noise at INFO), refusals at INFO."""
    status = handler.get_status()
    request = handler.request
    access_log.log(logging.DEBUG if status < 400 else logging.INFO, "%d %s %s (%s) %.1f ms", status,
                   request.method, request.path, request.remote_ip, 1000 * request.request_time())


def serve(application: Application, *, url: str, secret: str, listen: str = "127.0.0.1",  # type: ignore[type-arg]
          port: int = 8443, path: str = "/telegram", health: Health | None = None,
          stop_signals: Iterable[signal.Signals] = (signal.SIGINT, signal.SIGTERM)) -> None:
    """Serve the webhook until one of ``stop_signals``, then stop cleanly and return."""
    asyncio.run(_serve(Webhook(application, url=url, secret=secret, listen=listen, port=port, path=path,
                               health=health), stop_signals))


async def _serve(webhook: Webhook, stop_signals: Iterable[signal.Signals]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = list(stop_signals)
    for sig in signals:
        loop.add_signal_handler(sig, _stopper(stop, sig))
    try:
        await webhook.start()
        await stop.wait()
        await webhook.stop()
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


def _stopper(stop: asyncio.Event, sig: signal.Signals) -> Callable[[], None]:
    def handle() -> None:
        log.info("%s received; stopping", sig.name)
        stop.set()

    return handle
