"""build_application(settings, dialogue): the python-telegram-bot Application, wired and hardened.

- Requests that fail with a 429 wait ``retry_after`` and are retried (AIORateLimiter); 5xx and
  dropped connections are retried with back-off. A timed-out send is not retried: Telegram
  may have delivered it, and a question must not be answered twice.
- Each update is answered exactly once, even across a crash: it is recorded in the state file
  on arrival and marked when handled (``UpdateLedger``).
- The token never reaches a log line: httpx logs request URLs (which contain it) at INFO,
  so httpx is kept at WARNING and every record passes through ``redact``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import signal
import sqlite3
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from typing import Any, TextIO

from telegram import BotCommand, Update
from telegram.error import BadRequest, NetworkError, TimedOut
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    InlineQueryHandler,
    MessageHandler,
    SimpleUpdateProcessor,
    TypeHandler,
    filters,
)

from bot import logs
from bot.config import Settings
from bot.engine.reloader import Reloader
from bot.errors import ConfigError
from bot.telegram import handlers
from bot.telegram.dialogue import Dialogue
from bot.telegram.handlers import BotData, Context, RateLimiter
from bot.telegram.state import State
from bot.telegram.strings import command_menu
from bot.telegram.webhook import Health
from bot.telegram.webhook import serve as serve_webhook

log = logging.getLogger(__name__)
_TOKEN_SHAPE = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{8,}$")
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0)


def check_token(token: str | None) -> str:
    """The token, or a ConfigError that says how to get one (and never echoes it)."""
    if not token:
        raise ConfigError("TELEGRAM_BOT_TOKEN is not set: get a token from @BotFather and export it "
                          "(the local `articlebot chat` needs none)")
    if not _TOKEN_SHAPE.match(token.strip()):
        raise ConfigError("TELEGRAM_BOT_TOKEN does not look like a bot token (expected digits, a colon, "
                          "then letters, digits, '-' or '_'); copy it again from @BotFather")
    return token.strip()


def redact(text: str, token: str) -> str:
    return text.replace(token, "<token>") if token else text


def protect_token(token: str) -> None:
    """Make every log record of this process token-free, whatever logger or handler sees it.

    Redacting at record creation (not in one handler's formatter) also covers handlers added
    later, such as a test's log capture, and tracebacks whose messages quote a URL.
    """
    previous = logging.getLogRecordFactory()
    if getattr(previous, "redacts", None) == token:
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        message = record.getMessage()
        if token in message:
            record.msg, record.args = redact(message, token), ()
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info), token)
        return record

    factory.redacts = token  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def configure_logging(token: str, level: int | str = logging.INFO, log_format: str = "text",
                      stream: TextIO | None = None) -> logging.Handler:
    """Root logging for `articlebot telegram` (text or JSON lines, see bot.logs), token redacted.

    httpx's per-request lines (with the URL, hence the token) are kept out as well, even at DEBUG:
    redaction would clean them, but a second guard costs nothing.
    """
    protect_token(token)
    handler = logs.install(level, log_format, stream)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    return handler


_HANDLING: ContextVar[int | None] = ContextVar("articlebot_update_being_handled", default=None)
"""The update whose handlers are running in this task (set by ExactlyOnceProcessor)."""
REPLY_ENDPOINTS = frozenset({"sendMessage", "editMessageText", "answerInlineQuery"})
"""Requests that deliver an update's answer: once one succeeds, a restart must not answer again."""


class RetryingRateLimiter(AIORateLimiter):
    """AIORateLimiter (throttling and 429 retry_after) plus retries of 5xx and dropped connections.

    It also sees every answer Telegram accepts, so it marks the update being handled as answered
    at that moment, not when its handler returns: a crash in between (the handler logging, or a
    burst of sends released together after a 429) would otherwise answer it twice after a restart.
    """

    def __init__(self, *args: Any, ledger: UpdateLedger | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ledger = ledger

    async def process_request(  # type: ignore[override]
        self, callback: Callable[..., Coroutine[Any, Any, Any]], args: Any, kwargs: dict[str, Any],
        endpoint: str, data: dict[str, Any], rate_limit_args: int | None,
    ) -> Any:
        result = await self._with_retries(callback, args, kwargs, endpoint, data, rate_limit_args)
        update_id = _HANDLING.get()
        if self.ledger is not None and update_id is not None and endpoint in REPLY_ENDPOINTS:
            self.ledger.replied(update_id)
        return result

    async def _with_retries(
        self, callback: Callable[..., Coroutine[Any, Any, Any]], args: Any, kwargs: dict[str, Any],
        endpoint: str, data: dict[str, Any], rate_limit_args: int | None,
    ) -> Any:
        for attempt, delay in enumerate((*RETRY_DELAYS, None)):
            try:
                return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)
            except (BadRequest, TimedOut):
                raise
            except NetworkError as error:
                if delay is None or endpoint == "getUpdates":
                    raise
                log.warning("%s failed (%s); retry %d in %.1f s", endpoint, error, attempt + 1, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")


class UpdateLedger:
    """Each update answered exactly once, across a crash and Telegram's redelivery.

    Telegram counts an update as delivered once the next getUpdates asks past it (or the webhook
    answered 200): before the bot has replied. So an update is written to the state file as soon
    as it is received (``DurableUpdateQueue``), and marked handled once its handlers have run
    (``ExactlyOnceProcessor``). After a restart, updates received but not handled are answered
    (``pending``), and updates Telegram sends again because it never learned they were delivered
    are skipped. What remains is the instant between a reply being sent and it being marked.

    Recording is best effort: if the state file fails, the update is still answered (and the
    failure logged), rather than dropped.
    """

    PRUNE_EVERY = 1000

    def __init__(self, state: Callable[[], State | None]) -> None:
        self._state = state  # looked up per call: the Dialogue's state may be replaced
        self._in_progress: set[int] = set()
        self._marked = 0

    def _use(self, action: Callable[[State], Any], what: str) -> Any:
        state = self._state()
        if state is None:
            return None
        try:
            return action(state)
        except sqlite3.Error as error:
            log.warning("could not %s in the state file: %s", what, error)
            return None

    def received(self, update: Update) -> None:
        body = json.dumps(update.to_dict(), ensure_ascii=False)
        self._use(lambda state: state.receive_update(update.update_id, body), "record an update")

    def claim(self, update_id: int) -> bool:
        """True if this update is to be handled now; False if it is being or has been handled."""
        if update_id in self._in_progress or self._use(lambda state: state.update_handled(update_id),
                                                         "look up an update"):
            return False
        self._in_progress.add(update_id)
        return True

    def finished(self, update_id: int) -> None:
        self._in_progress.discard(update_id)
        self._use(lambda state: state.mark_update_handled(update_id), "mark an update handled")
        self._marked += 1
        if self._marked % self.PRUNE_EVERY == 0:
            self._use(lambda state: state.prune_updates(), "prune old updates")

    def replied(self, update_id: int) -> None:
        """Telegram accepted the update's answer: a restart must not send it again."""
        self._use(lambda state: state.mark_update_handled(update_id), "mark an update answered")

    def abandoned(self, update_id: int) -> None:
        """Handling was cut short (shutdown): left unhandled, so the next start answers it."""
        self._in_progress.discard(update_id)

    def pending(self, bot: Any) -> list[Update]:
        """Updates received before a restart and never handled, oldest first.

        Inline queries are let go: their results only show while the user is still typing, and
        Telegram refuses answers to them seconds later.
        """
        rows = self._use(lambda state: (state.prune_updates(), state.unhandled_updates())[1],
                         "read unhandled updates") or []
        updates = [Update.de_json(json.loads(body), bot) for _update_id, body in rows]
        for update in updates:
            if update.inline_query is not None:
                self.finished(update.update_id)
        return [update for update in updates if update.inline_query is None]


class DurableUpdateQueue(asyncio.Queue):  # type: ignore[type-arg]
    """The Application's update queue; every update is recorded before it is queued.

    Both the poller and the webhook put updates here before Telegram can consider them
    delivered (the poller asks past them only afterwards; the webhook answers 200 afterwards).
    ``asyncio.Queue.put`` ends in ``put_nowait``, so this one override covers both.
    """

    def __init__(self, ledger: UpdateLedger) -> None:
        super().__init__()
        self.ledger = ledger

    def put_nowait(self, item: Any) -> None:
        if isinstance(item, Update):
            self.ledger.received(item)
        super().put_nowait(item)


class ExactlyOnceProcessor(SimpleUpdateProcessor):
    """Runs up to ``max_concurrent_updates`` updates at once, skipping any already handled."""

    def __init__(self, max_concurrent_updates: int, ledger: UpdateLedger) -> None:
        super().__init__(max_concurrent_updates)
        self.ledger = ledger

    async def do_process_update(self, update: object, coroutine: Any) -> None:
        if not isinstance(update, Update):
            await coroutine
            return
        if not self.ledger.claim(update.update_id):
            coroutine.close()  # never started: closing it avoids a "never awaited" warning
            log.info("update %d was handled already (sent again after a restart); skipped", update.update_id)
            return
        handling = _HANDLING.set(update.update_id)
        try:
            await coroutine
        except BaseException:
            self.ledger.abandoned(update.update_id)
            raise
        finally:
            _HANDLING.reset(handling)
        self.ledger.finished(update.update_id)


def build_application(settings: Settings, dialogue: Dialogue, *, overall_rate: float = 30,
                      reloader: Reloader | None = None) -> Application:  # type: ignore[type-arg]
    """The Application with every handler, typed bot_data, retries and command menus.

    Updates are recorded in the dialogue's state file and answered exactly once (``UpdateLedger``);
    ``reloader``, if given, serves ``/reload`` and SIGHUP.
    """
    token = check_token(settings.telegram_token)
    protect_token(token)
    context_types = ContextTypes(context=Context, bot_data=BotData)
    ledger = UpdateLedger(lambda: dialogue.state)
    application = (
        ApplicationBuilder()
        .token(token)
        .base_url(settings.telegram_api_base_url)
        .context_types(context_types)
        .rate_limiter(RetryingRateLimiter(overall_max_rate=overall_rate, max_retries=5, ledger=ledger))
        .update_queue(DurableUpdateQueue(ledger))
        .concurrent_updates(ExactlyOnceProcessor(16, ledger))
        .read_timeout(15)
        .write_timeout(15)
        .post_init(_post_init)
        .build()
    )
    application.bot_data.dialogue = dialogue
    application.bot_data.limiter = RateLimiter(settings.rate_limit_per_minute)
    application.bot_data.reloader = reloader
    application.bot_data.admin_user_ids = settings.admin_user_ids
    application.bot_data.allowed_chat_ids = settings.allowed_chat_ids
    add_handlers(application)
    return application


def add_handlers(application: Application) -> None:  # type: ignore[type-arg]
    private = filters.ChatType.PRIVATE
    groups = filters.ChatType.GROUPS
    commands = {"start": handlers.start, "help": handlers.help_command, "ask": handlers.ask,
                "tags": handlers.tags, "tag": handlers.tag, "latest": handlers.latest,
                "source": handlers.source, "about": handlers.about, "reload": handlers.reload,
                "settings": handlers.settings_command, "stats": handlers.stats}
    # group -1 runs first for every update: chats not served are refused there, usage counted
    application.add_handler(TypeHandler(Update, handlers.gate), group=-1)
    for name, callback in commands.items():
        application.add_handler(CommandHandler(name, callback))
    application.add_handler(MessageHandler(filters.COMMAND, handlers.unknown_command))
    application.add_handler(MessageHandler(filters.TEXT & private, handlers.private_text))
    application.add_handler(MessageHandler(filters.TEXT & groups, handlers.group_text))
    application.add_handler(MessageHandler(private & ~filters.TEXT & ~filters.StatusUpdate.ALL, handlers.not_text))
    application.add_handler(CallbackQueryHandler(handlers.button))
    application.add_handler(InlineQueryHandler(handlers.inline_query))
    application.add_error_handler(handlers.on_error)  # type: ignore[arg-type]


async def _post_init(application: Application) -> None:  # type: ignore[type-arg]
    """Register the command menus (English by default, Chinese for zh users), queue the updates
    a crash left unanswered, and make SIGHUP reload the corpus."""
    dialogue = application.bot_data.dialogue
    if dialogue is not None:
        dialogue.bot_username = application.bot.username or dialogue.bot_username
    for lang in ("en", "zh"):
        await application.bot.set_my_commands([BotCommand(c, d) for c, d in command_menu(lang)],
                                              language_code=None if lang == "en" else lang)
    queue = application.update_queue
    if isinstance(queue, DurableUpdateQueue):
        pending = queue.ledger.pending(application.bot)
        if pending:
            log.info("answering %d update(s) received before a restart but never answered", len(pending))
        for update in pending:
            await queue.put(update)
    reloader = application.bot_data.reloader
    if reloader is not None:
        _reload_on_sighup(reloader)


def _reload_on_sighup(reloader: Reloader) -> None:
    """SIGHUP (``systemctl reload``, ``kill -HUP``) re-reads the corpus, as daemons conventionally do.

    The handler runs on the event loop, not inside the signal, and only files a request.
    """
    if not hasattr(signal, "SIGHUP"):
        return
    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP,
                                                     lambda: reloader.request("SIGHUP", immediate=True))
    except (RuntimeError, ValueError, NotImplementedError) as error:  # not the main thread (tests), Windows
        log.debug("SIGHUP not handled here: %s", error)


def run(application: Application, webhook: str | None, listen: str, port: int, secret: str,  # type: ignore[type-arg]
        path: str = "/telegram", health: Health | None = None) -> None:
    """Serve until SIGINT/SIGTERM; in-flight updates are then finished and the bot stops cleanly.

    With a webhook, bot.webhook serves it: Telegram must send ``secret`` in its
    X-Telegram-Bot-Api-Secret-Token header (requests without it get 403), and GET /health
    reports ``health()`` for monitoring.
    """
    if webhook:
        protect_token(secret)  # python-telegram-bot logs setWebhook's parameters, secret included, at DEBUG
        serve_webhook(application, url=webhook, secret=secret, listen=listen, port=port, path=path,
                      health=health)
    else:
        application.run_polling(allowed_updates=Update.ALL_TYPES)
