"""build_application(settings, dialogue): the python-telegram-bot Application, wired and hardened.

- Requests that fail with a 429 wait ``retry_after`` and are retried (AIORateLimiter); 5xx and
  dropped connections are retried with back-off. A timed-out send is not retried: Telegram
  may have delivered it, and a question must not be answered twice (``bot.telegram.delivery``).
- Each update is answered once, even across a crash: it is recorded in the state file on arrival
  and marked when answered, per bot (``bot.telegram.delivery``, which states the contract).
- Several replicas may serve one bot when the state is a shared PostgreSQL database (``state_url``):
  updates are claimed with a lease, each replica sweeps for the updates of a replica that died,
  per-user rate limits are counted in the database (``SharedRateLimiter``), one replica at a time
  re-indexes the corpus, and the webhook is registered by each with the same URL and secret
  (``setWebhook`` is idempotent).
- The token never reaches a log line: httpx logs request URLs (which contain it) at INFO,
  so httpx is kept at WARNING and every record passes through ``redact``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TextIO

from telegram import BotCommand, Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    InlineQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import logs
from bot.config import Settings
from bot.engine.reloader import Reloader
from bot.errors import ConfigError
from bot.telegram import handlers
from bot.telegram.delivery import (
    Broadcaster,
    DurableUpdateQueue,
    ExactlyOnceProcessor,
    RetryingRateLimiter,
    UpdateLedger,
    bot_id_of,
)
from bot.telegram.dialogue import Dialogue, FollowOptions
from bot.telegram.handlers import BotData, Context, RateLimiter
from bot.telegram.state import State
from bot.telegram.strings import command_menu
from bot.telegram.webhook import Health
from bot.telegram.webhook import serve as serve_webhook

log = logging.getLogger(__name__)
_TOKEN_SHAPE = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{8,}$")


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


class SharedRateLimiter(RateLimiter):
    """Per-user limits that hold across replicas: every answered request is counted in the shared state.

    One process's memory (``RateLimiter``) sees only the requests that reached it; behind a load
    balancer a user would get ``per_minute`` per replica. Handlers ask on the event loop, which must
    never wait for the database, so the decision is made from memory: this replica's own window (as
    before), and whether the database said, when counting this user's last request here, that the
    user had gone over the limit across all replicas (then refused until that window has passed). The
    count itself is written by a thread of its own. A user spreading requests over replicas is so
    stopped one request late on each replica, which is what a courtesy limit can afford.
    """

    def __init__(self, per_minute: int, state: Callable[[], State]) -> None:
        super().__init__(per_minute)
        self._state = state
        self._blocked: dict[int, float] = {}
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="rate-limit")

    def wait_needed(self, user_id: int, now: float | None = None) -> int:
        local = super().wait_needed(user_id, now)
        if local:
            return local
        until = self._blocked.get(user_id)
        if until is not None:
            left = until - time.time()
            if left > 0:
                return max(1, int(left) + 1)
            del self._blocked[user_id]
        self._thread.submit(self._count, user_id)
        return 0

    def _count(self, user_id: int) -> None:
        state = self._state()
        try:
            wait = state.count_request(user_id, self.per_minute, refund=False)
        except state.errors as error:  # the limit is a courtesy: a failing store must not silence the bot
            log.warning("could not count a request in the state store: %s", error)
            return
        if wait:
            self._blocked[user_id] = time.time() + wait

    def counted(self) -> None:
        """Wait until the counts submitted so far are written (tests, shutdown)."""
        self._thread.submit(lambda: None).result()


def build_application(settings: Settings, dialogue: Dialogue, *, overall_rate: float = 30,
                      reloader: Reloader | None = None,
                      clock: Callable[[], float] = time.time) -> Application:  # type: ignore[type-arg]
    """The Application with every handler, typed bot_data, retries and command menus.

    Updates are recorded in the dialogue's state file, under the bot's id, and answered once
    (``bot.telegram.delivery``); ``reloader``, if given, serves ``/reload`` and SIGHUP, and tells the
    broadcaster which articles a reload added, for the chats that follow their tags. ``clock`` is the
    time daily digests go by (tests set it). ``overall_rate`` caps every request per second; it is
    raised to leave room above ``broadcast_per_second``, which paces the bot itself.
    """
    token = check_token(settings.telegram_token)
    protect_token(token)
    context_types = ContextTypes(context=Context, bot_data=BotData)
    ledger = UpdateLedger(lambda: dialogue.state, bot_id_of(token))
    dialogue.following = FollowOptions(settings.following, settings.digest_hour, settings.digest_timezone,
                                       bot_id_of(token))
    limiter = RetryingRateLimiter(overall_max_rate=max(overall_rate, settings.broadcast_per_second * 1.2),
                                  max_retries=5, ledger=ledger)
    application = (
        ApplicationBuilder()
        .token(token)
        .base_url(settings.telegram_api_base_url)
        .context_types(context_types)
        .rate_limiter(limiter)
        .update_queue(DurableUpdateQueue(ledger))
        .concurrent_updates(ExactlyOnceProcessor(16, ledger))
        .read_timeout(15)
        .write_timeout(15)
        .post_init(_post_init)
        .post_stop(_post_stop)
        .build()
    )
    application.bot_data.dialogue = dialogue
    shared = dialogue.state.shared
    application.bot_data.limiter = (SharedRateLimiter(settings.rate_limit_per_minute, lambda: dialogue.state)
                                    if shared else RateLimiter(settings.rate_limit_per_minute))
    application.bot_data.reloader = reloader
    if reloader is not None and shared:
        reloader.exclusive = lambda name: dialogue.state.exclusive(name)
    application.bot_data.admin_user_ids = settings.admin_user_ids
    application.bot_data.allowed_chat_ids = settings.allowed_chat_ids
    if settings.following:
        broadcaster = Broadcaster(dialogue, settings, clock)
        limiter.pacer = broadcaster.pacer
        application.bot_data.broadcaster = broadcaster
        application.bot_data.broadcast_pace = broadcaster.pace
        if reloader is not None:
            reloader.when_added(broadcaster.announce)
    add_handlers(application)
    return application


def add_handlers(application: Application) -> None:  # type: ignore[type-arg]
    private = filters.ChatType.PRIVATE
    groups = filters.ChatType.GROUPS
    commands = {"start": handlers.start, "help": handlers.help_command, "ask": handlers.ask,
                "tags": handlers.tags, "tag": handlers.tag, "latest": handlers.latest,
                "source": handlers.source, "about": handlers.about, "reload": handlers.reload,
                "settings": handlers.settings_command, "stats": handlers.stats, "follow": handlers.follow,
                "unfollow": handlers.unfollow, "following": handlers.following,
                "broadcast_status": handlers.broadcast_status}
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
        pending = await queue.ledger.pending(application.bot)
        if pending:
            log.info("answering %d update(s) received before a restart but never answered", len(pending))
        for update in pending:
            await queue.put(update)
        if dialogue is not None and dialogue.state.shared:
            queue.ledger.start_sweeping(queue, application.bot)
    reloader = application.bot_data.reloader
    if reloader is not None:
        _reload_on_sighup(reloader)
    broadcaster = application.bot_data.broadcaster
    if broadcaster is not None:
        await broadcaster.start(application.bot)


async def _post_stop(application: Application) -> None:  # type: ignore[type-arg]
    """Stop delivering to followers once updates are done: messages in flight are sent and recorded,
    the rest wait in the outbox for the next start."""
    broadcaster = application.bot_data.broadcaster
    if broadcaster is not None:
        await broadcaster.stop()
    queue = application.update_queue
    if isinstance(queue, DurableUpdateQueue):
        await queue.ledger.stop_sweeping()


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

    What was loaded before (the index, the articles, jieba's dictionary: hundreds of thousands of
    objects that live as long as the process) is moved out of the garbage collector's reach
    (``gc.freeze``): a full collection would otherwise walk all of them, some 60 ms during which the
    event loop, and so every chat, waits (benchmarks/LOAD.md). Objects of a later re-index stay
    collectable.
    """
    gc.freeze()
    if webhook:
        protect_token(secret)  # python-telegram-bot logs setWebhook's parameters, secret included, at DEBUG
        serve_webhook(application, url=webhook, secret=secret, listen=listen, port=port, path=path,
                      health=health)
    else:
        application.run_polling(allowed_updates=Update.ALL_TYPES)
