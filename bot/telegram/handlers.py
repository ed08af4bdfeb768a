"""python-telegram-bot callbacks: update → Dialogue → Reply → Bot API call. Thin by design.

Everything a Dialogue does (searching, summarizing, reading and writing the state file) runs in a
worker thread (``_from_dialogue``), never on the event loop: while a coroutine blocks, every other
chat waits, and the poller or webhook cannot even take the next update. The chat's /settings are
read there, once per update (``Dialogue.audience``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InlineQueryResultsButton,
    InputTextMessageContent,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatAction, ChatMemberStatus, ChatType, ParseMode
from telegram.error import BadRequest
from telegram.ext import ApplicationHandlerStop, CallbackContext, ExtBot

from bot.engine.reloader import Reloader
from bot.telegram.dialogue import (
    FOLLOW_PRESSES,
    TOASTED,
    Audience,
    BroadcastPace,
    Dialogue,
    InlineResult,
    Reply,
)
from bot.telegram.report import DEFAULT_DAYS
from bot.telegram.strings import strings

log = logging.getLogger(__name__)
T = TypeVar("T")


class RateLimiter:
    """Per-user sliding window: at most ``per_minute`` requests in any 60 seconds."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._seen: dict[int, deque[float]] = defaultdict(deque)

    def wait_needed(self, user_id: int, now: float | None = None) -> int:
        """0 if the user may go ahead (and counts the request), else the seconds to wait."""
        now = time.monotonic() if now is None else now
        window = self._seen[user_id]
        while window and now - window[0] >= 60:
            window.popleft()
        if len(window) >= self.per_minute:
            return max(1, int(60 - (now - window[0])) + 1)
        window.append(now)
        return 0


class Background(Protocol):
    """Work the application runs beside its handlers (the broadcaster, ``bot.telegram.delivery``)."""

    async def start(self, bot: Any) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class BotData:
    """What every handler shares, typed (``context.bot_data`` via ContextTypes)."""

    dialogue: Dialogue | None = None
    limiter: RateLimiter = field(default_factory=lambda: RateLimiter(20))
    reloader: Reloader | None = None
    """Re-indexes the corpus on /reload (None: this bot cannot reload, e.g. in some tests)."""
    admin_user_ids: frozenset[int] = frozenset()
    """Who may use admin commands (``admin_user_ids`` setting)."""
    allowed_chat_ids: frozenset[int] = frozenset()
    """The only chats answered in (``allowed_chat_ids`` setting); empty: every chat."""
    broadcaster: Background | None = None
    """Delivers to the followers of tags; started and stopped with the application (None: following off)."""
    broadcast_pace: Callable[[], BroadcastPace] | None = None
    """The broadcaster's live figures for /broadcast_status (None: following is off)."""


class Context(CallbackContext[ExtBot[None], dict, dict, BotData]):  # type: ignore[type-arg]
    """CallbackContext with typed bot_data."""


def _user_lang(update: Update) -> str | None:
    """The user's Telegram language, before any chat's /settings."""
    user = update.effective_user
    return user.language_code if user else None


def _where(update: Update) -> int | None:
    """The chat whose /settings apply: the update's chat, or for inline queries (which have no chat)
    the user's private chat, whose id is the user's."""
    chat = update.effective_chat
    user = update.effective_user
    return chat.id if chat else user.id if user else None


async def _from_dialogue(update: Update, context: Context, make: Callable[[Dialogue, Audience], T]) -> T:
    """``make(dialogue, audience)`` in a worker thread, the chat's /settings read there once."""
    dialogue = _dialogue(context)
    where, user_lang = _where(update), _user_lang(update)
    return await asyncio.to_thread(lambda: make(dialogue, dialogue.audience(where, user_lang)))


def _markup(reply: Reply) -> InlineKeyboardMarkup | None:
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(b.label, callback_data=b.data, url=b.url) for b in row]
                                 for row in reply.buttons])


def _preview(reply: Reply) -> LinkPreviewOptions:
    if reply.preview_url:
        return LinkPreviewOptions(url=reply.preview_url, prefer_small_media=True)
    return LinkPreviewOptions(is_disabled=True)


async def send(message: Message, reply: Reply, context: Context, quote: bool = True) -> Message:
    """Send a Reply (and its continuation messages) in answer to ``message``."""
    sent = await message.reply_html(
        reply.html, reply_markup=_markup(reply), link_preview_options=_preview(reply),
        reply_parameters=ReplyParameters(message.message_id, allow_sending_without_reply=True) if quote else None)
    for extra in reply.extra:
        await context.bot.send_message(message.chat_id, extra, parse_mode=ParseMode.HTML,
                                       link_preview_options=LinkPreviewOptions(is_disabled=True))
    if reply.query_id is not None:
        await asyncio.to_thread(_dialogue(context).sent, sent.chat_id, sent.message_id, reply)
    return sent


def _dialogue(context: Context) -> Dialogue:
    dialogue = context.bot_data.dialogue
    assert dialogue is not None, "build_application sets the dialogue"
    return dialogue


async def _allowed(update: Update, context: Context) -> bool:
    """Apply the per-user rate limit, answering politely when it bites."""
    user = update.effective_user
    wait = context.bot_data.limiter.wait_needed(user.id) if user else 0
    if wait and update.effective_message:
        reply = await _from_dialogue(update, context, lambda d, who: d.say("rate_limited", who.lang, seconds=wait))
        await send(update.effective_message, reply, context)
    return not wait


async def answer_question(update: Update, context: Context, question: str) -> None:
    """Show "typing…", answer (a reply to one of the bot's answers follows up on its question),
    and link the reply to its question for follow-ups."""
    message = update.effective_message
    if message is None or not await _allowed(update, context):
        return
    await context.bot.send_chat_action(message.chat_id, ChatAction.TYPING)
    replied = message.reply_to_message
    to_bot = replied is not None and replied.from_user is not None and replied.from_user.id == context.bot.id
    replied_id = replied.message_id if replied is not None and to_bot else None
    chat_id, chat_type = message.chat_id, message.chat.type
    reply = await _from_dialogue(update, context, lambda d, who: d.ask(
        question, who.lang, d.follows(chat_id, replied_id) if replied_id else None, chat_id, chat_type, k=who.k))
    await send(message, reply, context)


# --- commands -------------------------------------------------------------------------

def _args(context: Context) -> str:
    return " ".join(context.args or [])


async def start(update: Update, context: Context) -> None:
    """/start, with deep links such as ?start=tag_iyiou and ?start=follow_iyiou."""
    message = update.effective_message
    if message:
        payload, chat_id = _args(context), message.chat_id
        may_change = await may_change_follows(update, context) if payload.startswith("follow_") else True
        reply = await _from_dialogue(update, context, lambda d, who: d.start(payload, who.lang, chat_id, may_change))
        await send(message, reply, context)


async def help_command(update: Update, context: Context) -> None:
    """/help."""
    if update.effective_message:
        reply = await _from_dialogue(update, context, lambda d, who: d.help(who.lang))
        await send(update.effective_message, reply, context)


async def ask(update: Update, context: Context) -> None:
    """/ask QUESTION."""
    if not update.effective_message:
        return
    question = _args(context)
    if not question:
        reply = await _from_dialogue(update, context, lambda d, who: d.say("ask_usage", who.lang))
        await send(update.effective_message, reply, context)
        return
    await answer_question(update, context, question)


async def tags(update: Update, context: Context) -> None:
    """/tags [page]."""
    if update.effective_message:
        page = int(context.args[0]) if context.args and context.args[0].isdigit() else 1
        reply = await _from_dialogue(update, context, lambda d, who: d.tags(page, who.lang))
        await send(update.effective_message, Reply(reply.html, reply.buttons), context)


async def tag(update: Update, context: Context) -> None:
    """/tag NAME."""
    message = update.effective_message
    if message and await _allowed(update, context):
        name, chat_id = _args(context), message.chat_id
        reply = await _from_dialogue(update, context, lambda d, who: d.tag(name, 1, who.lang, chat_id=chat_id))
        await send(message, reply, context)


async def latest(update: Update, context: Context) -> None:
    """/latest [N]."""
    if update.effective_message:
        n = int(context.args[0]) if context.args and context.args[0].isdigit() else 5
        reply = await _from_dialogue(update, context, lambda d, who: d.latest(n, who.lang))
        await send(update.effective_message, reply, context)


async def source(update: Update, context: Context) -> None:
    """/source QUERY."""
    if not update.effective_message or not await _allowed(update, context):
        return
    query = _args(context)
    reply = await _from_dialogue(update, context, lambda d, who: d.source(query, who.lang) if query
                                 else d.say("source_usage", who.lang))
    await send(update.effective_message, reply, context)


async def about(update: Update, context: Context) -> None:
    """/about."""
    if update.effective_message:
        reply = await _from_dialogue(update, context, lambda d, who: d.about(who.lang))
        await send(update.effective_message, reply, context)


def is_admin(update: Update, context: Context) -> bool:
    """Whether the sender is one of the configured admins (nobody is, unless configured)."""
    user = update.effective_user
    return user is not None and user.id in context.bot_data.admin_user_ids


async def refuse(update: Update, context: Context) -> None:
    """Politely decline an admin command, without saying who the admins are."""
    if update.effective_message:
        reply = await _from_dialogue(update, context, lambda d, who: d.say("admin_only", who.lang))
        await send(update.effective_message, reply, context)


async def _admin_message(update: Update, context: Context) -> Message | None:
    """The message of an admin command, or None (after a polite refusal if a non-admin sent it)."""
    message = update.effective_message
    if message is not None and not is_admin(update, context):
        await refuse(update, context)
        return None
    return message


async def reload(update: Update, context: Context) -> None:
    """/reload (admins only): re-read the corpus now; the reply lists articles and skipped files.

    The re-index runs in the reloader's thread while this update waits for it; other updates
    are answered meanwhile, from the previous index.
    """
    message = await _admin_message(update, context)
    if message is None:
        return
    reloader = context.bot_data.reloader
    result = None if reloader is None else await asyncio.to_thread(reloader.reload, "/reload", RELOAD_TIMEOUT)
    reply = await _from_dialogue(update, context, lambda d, who: d.reloaded(result, who.lang))
    await send(message, reply, context)


RELOAD_TIMEOUT = 600.0
"""Seconds /reload waits for the re-index before saying it is still running."""


async def settings_command(update: Update, context: Context) -> None:
    """/settings: the chat's language and quotes per answer, as buttons.

    Anyone may look; in groups only admins may change them (``Dialogue.change_setting``).
    """
    message = update.effective_message
    if message:
        reply = await asyncio.to_thread(_dialogue(context).settings, message.chat_id, _user_lang(update))
        await send(message, reply, context)


STATS_MAX_DAYS = 366
"""/stats looks back at most a year (the question log keeps ``query_log_days`` anyway)."""


async def stats(update: Update, context: Context) -> None:
    """/stats [DAYS] (admins only): what readers asked and missed, the same report as `articlebot report`."""
    message = await _admin_message(update, context)
    if message is None:
        return
    args = context.args or []
    if args and not (args[0].isdigit() and 1 <= int(args[0]) <= STATS_MAX_DAYS):
        reply = await _from_dialogue(update, context, lambda d, who: d.say("stats_usage", who.lang))
    else:
        days = int(args[0]) if args else DEFAULT_DAYS
        reply = await _from_dialogue(update, context, lambda d, who: d.stats(days, who.lang))
    await send(message, reply, context)


# --- following tags --------------------------------------------------------------------

FOLLOW_ADMINS = (ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR)


async def may_change_follows(update: Update, context: Context) -> bool:
    """Whether the sender may change what this chat follows: anyone in a private chat; in a group its
    admins (as Telegram says, or the group itself writing as an anonymous admin) and the bot's admins."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None or chat.type == ChatType.PRIVATE or is_admin(update, context):
        return True
    message = update.effective_message
    if message is not None and message.sender_chat is not None and message.sender_chat.id == chat.id:
        return True
    if user is None:
        return False
    member = await context.bot.get_chat_member(chat.id, user.id)
    return member.status in FOLLOW_ADMINS


async def follow(update: Update, context: Context) -> None:
    """/follow NAME [daily]."""
    message = update.effective_message
    if message is None or not await _allowed(update, context):
        return
    words = list(context.args or [])
    daily = len(words) > 1 and words[-1].lower() in ("daily", "每日", "每天")
    name, chat_id = " ".join(words[:-1] if daily else words), message.chat_id
    may_change = await may_change_follows(update, context) if name else True
    reply = await _from_dialogue(update, context, lambda d, who: d.follow(chat_id, name, daily, who.lang, may_change))
    await send(message, reply, context)


async def unfollow(update: Update, context: Context) -> None:
    """/unfollow NAME."""
    message = update.effective_message
    if message is None or not await _allowed(update, context):
        return
    name, chat_id = _args(context), message.chat_id
    may_change = await may_change_follows(update, context) if name else True
    reply = await _from_dialogue(update, context, lambda d, who: d.unfollow(chat_id, name, who.lang, may_change))
    await send(message, reply, context)


async def following(update: Update, context: Context) -> None:
    """/following: what this chat follows, with Unfollow buttons."""
    message = update.effective_message
    if message:
        chat_id = message.chat_id
        reply = await _from_dialogue(update, context, lambda d, who: d.following_list(chat_id, who.lang))
        await send(message, reply, context)


async def broadcast_status(update: Update, context: Context) -> None:
    """/broadcast_status (admins only): follows, the outbox, the pace, the next digests."""
    message = await _admin_message(update, context)
    if message is None:
        return
    pace = context.bot_data.broadcast_pace
    figures = pace() if pace is not None else None
    reply = await _from_dialogue(update, context, lambda d, who: d.broadcast_status(figures, who.lang))
    await send(message, reply, context)


# --- access and usage: runs before every other handler --------------------------------

KNOWN_COMMANDS = frozenset({"start", "help", "ask", "tags", "tag", "latest", "source", "about", "settings",
                            "stats", "reload", "follow", "unfollow", "following", "broadcast_status"})
"""Commands counted by name; others count as "/other", so strangers cannot fill the counters."""


def chat_allowed(update: Update, context: Context) -> bool:
    """Whether the bot serves this chat: every chat unless ``allowed_chat_ids`` is set; admins always.

    An inline query has no chat, so its user's id (their private chat's id) decides.
    """
    allowed = context.bot_data.allowed_chat_ids
    if not allowed or is_admin(update, context):
        return True
    chat = update.effective_chat
    if chat is not None:
        return chat.id in allowed
    user = update.effective_user
    return user is not None and user.id in allowed


def _meant_for_bot(message: Message, context: Context) -> bool:
    """Any message in a private chat; in groups a command (bare or @this bot), a mention of the bot,
    or a reply to one of its messages. Only those are answered, counted or logged."""
    if message.chat.type == ChatType.PRIVATE:
        return True
    text = message.text or message.caption or ""
    if text.startswith("/"):
        command = text.split()[0]
        return "@" not in command or _addressed_command(message, context)
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.id == context.bot.id:
        return True
    username = context.bot.username or ""
    return bool(username) and re.search(rf"@{re.escape(username)}\b", text, re.IGNORECASE) is not None


def _usage_name(update: Update, context: Context) -> str | None:
    """The usage counter an update adds to, or None for what the bot leaves alone (group chatter)."""
    if update.inline_query is not None:
        return "inline"
    if update.callback_query is not None:
        return "button"
    message = update.message
    if message is None or not _meant_for_bot(message, context):
        return None
    text = message.text or ""
    if text.startswith("/"):
        name = text.split()[0][1:].split("@", 1)[0].lower()
        return f"/{name}" if name in KNOWN_COMMANDS else "/other"
    return "question" if text else "other"


async def gate(update: Update, context: Context) -> None:
    """Before any other handler: politely refuse chats the bot does not serve, and count usage.

    A refusal answers only what was meant for the bot (group chatter stays unanswered), and
    stops the update there (``ApplicationHandlerStop``).
    """
    if not isinstance(update, Update):
        return
    usage = _usage_name(update, context)
    if not chat_allowed(update, context):
        if usage is not None:
            await _refuse_chat(update, context)
        raise ApplicationHandlerStop
    if usage is not None and context.bot_data.dialogue is not None:
        await asyncio.to_thread(context.bot_data.dialogue.count, usage)


async def _refuse_chat(update: Update, context: Context) -> None:
    """Say once per request, in the way each kind of update allows, that this chat is not served.

    Refusals count against the sender's rate limit and go silent past it: a stranger cannot make
    the bot flood a chat it does not serve. The chat's /settings are not read: it has none.
    """
    user = update.effective_user
    if user is not None and context.bot_data.limiter.wait_needed(user.id):
        return
    text = strings(_user_lang(update))["not_allowed"]
    if update.inline_query is not None:
        await update.inline_query.answer([], cache_time=0, is_personal=True,
                                         button=InlineQueryResultsButton(text=text, start_parameter="not_allowed"))
    elif update.callback_query is not None:
        await update.callback_query.answer(text)
    elif update.effective_message is not None:
        await send(update.effective_message, _dialogue(context).say("not_allowed", _user_lang(update)), context)


async def unknown_command(update: Update, context: Context) -> None:
    """Any command we do not know (in groups only when it is addressed to us)."""
    message = update.effective_message
    if message and (message.chat.type == ChatType.PRIVATE or _addressed_command(message, context)):
        reply = await _from_dialogue(update, context, lambda d, who: d.say("unknown_command", who.lang))
        await send(message, reply, context)


def _addressed_command(message: Message, context: Context) -> bool:
    command = (message.text or "").split()[0] if message.text else ""
    return "@" in command and command.split("@", 1)[1].lower() == (context.bot.username or "").lower()


# --- plain messages -------------------------------------------------------------------

async def private_text(update: Update, context: Context) -> None:
    """In a private chat every text is a question."""
    if update.effective_message and update.effective_message.text:
        await answer_question(update, context, update.effective_message.text)


async def group_text(update: Update, context: Context) -> None:
    """In groups, answer only when addressed: a mention of the bot or a reply to its message."""
    message = update.effective_message
    if message is None or not message.text:
        return
    username = context.bot.username or ""
    replied = message.reply_to_message
    to_bot = replied is not None and replied.from_user is not None and replied.from_user.id == context.bot.id
    mention = re.compile(rf"@{re.escape(username)}\b", re.IGNORECASE) if username else None
    if not to_bot and not (mention and mention.search(message.text)):
        return
    question = mention.sub(" ", message.text).strip() if mention else message.text
    await answer_question(update, context, question)


async def not_text(update: Update, context: Context) -> None:
    """Stickers, photos and the like in a private chat: say what the bot can read."""
    message = update.effective_message
    if message and message.chat.type == ChatType.PRIVATE:
        if message.caption:
            await answer_question(update, context, message.caption)
            return
        reply = await _from_dialogue(update, context, lambda d, who: d.say("not_text", who.lang))
        await send(message, reply, context)


# --- buttons and inline ---------------------------------------------------------------

async def _answer_press(query: CallbackQuery, text: str | None = None) -> None:
    """Answer a button press; one answered before a crash (and handled again after it) is let be."""
    try:
        await query.answer(text)
    except BadRequest as error:
        if "query is too old" not in str(error).lower():
            raise


async def button(update: Update, context: Context) -> None:
    """A button press: page in place, or send the summary as a new message."""
    query = update.callback_query
    if query is None:
        return
    data = query.data or ""
    toasted = data.startswith(TOASTED)  # votes and settings: the answer to the press carries a notice
    if not toasted:
        await _answer_press(query)
    message = query.message
    chat = message.chat if message is not None else None
    user = update.effective_user
    may_change = chat is not None and (chat.type == ChatType.PRIVATE or is_admin(update, context))
    if chat is not None and not may_change and data.startswith(FOLLOW_PRESSES):
        may_change = await may_change_follows(update, context)
    reply = await asyncio.to_thread(_dialogue(context).press, data, _user_lang(update),
                                    user.id if user else None, chat.id if chat else None, may_change)
    if toasted:
        await _answer_press(query, reply.toast)
    if not reply.html or not isinstance(message, Message):
        return
    if reply.edit:
        try:
            await message.edit_text(reply.html, parse_mode=ParseMode.HTML, reply_markup=_markup(reply),
                                    link_preview_options=_preview(reply))
        except BadRequest as error:
            if "not modified" not in str(error).lower():
                raise
        return
    await send(message, reply, context, quote=False)


async def inline_query(update: Update, context: Context) -> None:
    """@bot question → up to ten ready-to-send quotes."""
    query = update.inline_query
    if query is None:
        return
    text = query.query
    results = await _from_dialogue(update, context, lambda d, who: d.inline(text, who.lang))
    await query.answer([_inline_article(r) for r in results], cache_time=30, is_personal=False)


def _inline_article(result: InlineResult) -> InlineQueryResultArticle:
    return InlineQueryResultArticle(
        id=result.id, title=result.title, description=result.description, url=result.url,
        input_message_content=InputTextMessageContent(result.html, parse_mode=ParseMode.HTML,
                                                      link_preview_options=LinkPreviewOptions(is_disabled=True)))


# --- errors ---------------------------------------------------------------------------

async def on_error(update: object, context: Context) -> None:
    """Log first (with the update's ids, never the token), then apologise to the user once."""
    where = ""
    if isinstance(update, Update):
        chat = update.effective_chat
        where = f" (update {update.update_id}, chat {chat.id if chat else '-'})"
    log.error("error while handling an update%s", where, exc_info=context.error)
    if isinstance(update, Update) and update.effective_message and context.bot_data.dialogue:
        try:
            await update.effective_message.reply_text(strings(_user_lang(update))["apology"])
        except Exception:  # noqa: BLE001 - the apology is best effort; the error is already logged
            log.warning("could not send the apology%s", where)
