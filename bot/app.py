"""build_application(settings, dialogue): the python-telegram-bot Application, wired and hardened.

- Requests that fail with a 429 wait ``retry_after`` and are retried (AIORateLimiter); 5xx and
  dropped connections are retried with back-off. A timed-out send is not retried: Telegram
  may have delivered it, and a question must not be answered twice.
- The token never reaches a log line: httpx logs request URLs (which contain it) at INFO,
  so httpx is kept at WARNING and every record passes through ``redact``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Coroutine
from typing import Any

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
    filters,
)

from bot import handlers
from bot.config import Settings
from bot.dialogue import Dialogue
from bot.errors import ConfigError
from bot.handlers import BotData, Context, RateLimiter

log = logging.getLogger(__name__)
_TOKEN_SHAPE = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{8,}$")
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0)

COMMANDS = {
    "en": [("ask", "Ask a question"), ("tags", "Browse tags"), ("tag", "A tag's articles with summaries"),
           ("latest", "The newest articles"), ("source", "Links to the original articles"),
           ("about", "What I have read"), ("help", "How to use me")],
    "zh": [("ask", "提问"), ("tags", "浏览标签"), ("tag", "某标签的文章与摘要"), ("latest", "最新文章"),
           ("source", "原文链接"), ("about", "收录情况"), ("help", "使用说明")],
}


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


def configure_logging(token: str, level: int = logging.INFO) -> None:
    """Root logging for `articlebot telegram`; httpx's per-request lines (with the URL) kept out."""
    protect_token(token)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


class RetryingRateLimiter(AIORateLimiter):
    """AIORateLimiter (throttling and 429 retry_after) plus retries of 5xx and dropped connections."""

    async def process_request(  # type: ignore[override]
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


def build_application(settings: Settings, dialogue: Dialogue, *, overall_rate: float = 30) -> Application:  # type: ignore[type-arg]
    """The Application with every handler, typed bot_data, retries and command menus."""
    token = check_token(settings.telegram_token)
    protect_token(token)
    context_types = ContextTypes(context=Context, bot_data=BotData)
    application = (
        ApplicationBuilder()
        .token(token)
        .base_url(settings.telegram_api_base_url)
        .context_types(context_types)
        .rate_limiter(RetryingRateLimiter(overall_max_rate=overall_rate, max_retries=5))
        .concurrent_updates(16)
        .read_timeout(15)
        .write_timeout(15)
        .post_init(_post_init)
        .build()
    )
    application.bot_data.dialogue = dialogue
    application.bot_data.limiter = RateLimiter(settings.rate_limit_per_minute)
    add_handlers(application)
    return application


def add_handlers(application: Application) -> None:  # type: ignore[type-arg]
    private = filters.ChatType.PRIVATE
    groups = filters.ChatType.GROUPS
    commands = {"start": handlers.start, "help": handlers.help_command, "ask": handlers.ask,
                "tags": handlers.tags, "tag": handlers.tag, "latest": handlers.latest,
                "source": handlers.source, "about": handlers.about}
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
    """Register the command menus (English by default, Chinese for zh users)."""
    dialogue = application.bot_data.dialogue
    if dialogue is not None:
        dialogue.bot_username = application.bot.username or dialogue.bot_username
    for lang, commands in COMMANDS.items():
        await application.bot.set_my_commands([BotCommand(c, d) for c, d in commands],
                                              language_code=None if lang == "en" else lang)


def run(application: Application, webhook: str | None, listen: str, port: int, secret: str) -> None:  # type: ignore[type-arg]
    """Serve until SIGINT/SIGTERM; PTB then finishes in-flight updates and stops cleanly.

    With a webhook, Telegram must send ``secret`` in its X-Telegram-Bot-Api-Secret-Token
    header; PTB refuses requests without it.
    """
    if webhook:
        application.run_webhook(listen=listen, port=port, url_path="telegram", webhook_url=webhook,
                                secret_token=secret, allowed_updates=Update.ALL_TYPES)
    else:
        application.run_polling(allowed_updates=Update.ALL_TYPES)
