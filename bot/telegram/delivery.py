"""Each Telegram update answered once, across crashes, restarts and Telegram's redelivery.

The contract, as the README states it for operators: every update is answered once. Telegram
retries, restarts, SIGTERM and network faults never make a second answer; a hard kill (SIGKILL,
the OOM killer, a power cut) can, for an update whose answer was in flight at that instant (sent,
Telegram's acceptance not yet recorded): at most one duplicate each. The Bot API has no idempotent
send, so at-least-once in that instant is the price of never losing an answer.

How: Telegram counts an update as delivered once the next getUpdates asks past it (or the webhook
answered 200), before the bot has replied. So every update is written to the state file on arrival
(``DurableUpdateQueue``), marked answered the moment Telegram accepts its answer
(``RetryingRateLimiter``) or its handlers end (``ExactlyOnceProcessor``), and after a restart the
updates received but never answered are answered (``UpdateLedger.pending``) while those Telegram
sends again are skipped. A button press is answered (``answerCallbackQuery``) before its page is
shown; that acceptance is recorded too, so a press handled again after a crash shows its page
without answering the press a second time (Telegram would refuse it). The ledger is keyed by the
bot's id as well as the update id: update ids are counted per bot.

The state file is read and written in one thread of the ledger's own, never on the event loop and
never queued behind the searches in the default executor: the record of an accepted answer must
follow it at once.

Several replicas (webhook mode, a shared PostgreSQL state) keep the same promise together: the
replica that receives an update claims it with a lease (``State.claim_update``), a Telegram retry that
reaches another replica finds the claim and is acknowledged without an answer, and each replica sweeps
(``UpdateLedger.start_sweeping``) for updates whose claim expired unanswered (their replica died) and
answers them. Outbox rows are claimed the same way, so each goes from one replica, and a dead sender's
rows go out from another once its claims expire.

Messages to the followers of a tag (``Broadcaster``) go through an outbox in the same file, with the
same promise: each (chat, article) at most once, nothing lost across a restart, and in the instant of a
hard kill the message in flight may go twice. They are paced by the bot (``Pacer``), within Telegram's
broadcast limits, and give way to answers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import AIORateLimiter, SimpleUpdateProcessor

from bot.config import Settings
from bot.telegram.database import Held
from bot.telegram.dialogue import BroadcastPace, Dialogue, latest_digest_moment, next_digest_moment
from bot.telegram.state import SENT, SWEEP_SECONDS, UNSURE, OutboxMessage, State, UpdateRecord

if TYPE_CHECKING:
    from bot.engine.engine import Engine
    from bot.search.articles import Article

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0)
"""Seconds between retries of a request that failed with a 5xx or a dropped connection."""
REPLY_ENDPOINTS = frozenset({"sendMessage", "editMessageText", "answerInlineQuery"})
"""Requests that deliver an update's answer: once one succeeds, a restart must not answer again."""
PRESS_ENDPOINT = "answerCallbackQuery"
"""The answer to a button press: Telegram takes one per press, and refuses a second."""
_HANDLING: ContextVar[int | None] = ContextVar("articlebot_update_being_handled", default=None)
"""The update whose handlers are running in this task (set by ExactlyOnceProcessor)."""
_BROADCASTING: ContextVar[int | None] = ContextVar("articlebot_broadcasting", default=None)
"""Set while a message to followers is sent (the pacer counted it already): the pacer's pause count
when its slot was taken, so that a slot taken before a 429 pause is taken again after it."""
MESSAGE_ENDPOINTS = frozenset({"sendMessage", "editMessageText"})
"""Requests that count against Telegram's messages per second."""


def bot_id_of(token: str) -> int:
    """The bot's id: the number before the colon in its token (what getMe answers as ``id``)."""
    return int(token.split(":", 1)[0])


class UpdateLedger:
    """The record of which updates were received and answered, in the state file, per bot.

    Recording is best effort: if the state file fails, the update is still answered (and the
    failure logged), rather than dropped. The coroutines run the state file's work in the ledger's
    thread; what is only in memory (updates being handled now) stays on the event loop.
    """

    PRUNE_EVERY = 1000
    """Updates older than two days are forgotten at start and after every this many handled."""

    def __init__(self, state: Callable[[], State | None], bot_id: int) -> None:
        self._state = state  # looked up per call: the Dialogue's state may be replaced
        self.bot_id = bot_id
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="update-ledger")
        self._in_progress: set[int] = set()
        self._presses_answered: set[int] = set()
        """Updates being handled whose button press Telegram had accepted before a restart."""
        self._marked = 0
        self._sweeper: asyncio.Task[None] | None = None

    async def _run(self, action: Callable[[State], T], what: str) -> T | None:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._use, action, what)

    def _use(self, action: Callable[[State], T], what: str) -> T | None:
        state = self._state()
        if state is None:
            return None
        try:
            return action(state)
        except state.errors as error:
            log.warning("could not %s in the state store: %s", what, error)
            return None

    def record(self, update: Update) -> None:
        """Write ``update`` to the state file as received (here, in the caller's thread)."""
        body = json.dumps(update.to_dict(), ensure_ascii=False)
        self._use(lambda state: state.receive_update(self.bot_id, update.update_id, body), "record an update")

    async def received(self, update: Update) -> None:
        """Write ``update`` to the state file as received, before Telegram may consider it delivered."""
        await asyncio.get_running_loop().run_in_executor(self._thread, self.record, update)

    async def claim(self, update_id: int) -> bool:
        """True if this update is to be handled now; False if it is being or has been handled."""
        if update_id in self._in_progress:
            return False
        self._in_progress.add(update_id)
        claim: tuple[UpdateRecord | None] | None = await self._run(
            lambda state: (state.claim_update(self.bot_id, update_id),), "claim an update")
        if claim is None:  # the store failed: answered anyway, rather than dropped
            return True
        record = claim[0]
        if record is None:  # answered already, or another replica's claim on it lasts
            self._in_progress.discard(update_id)
            return False
        if record.press_answered:
            self._presses_answered.add(update_id)
        return True

    async def finished(self, update_id: int) -> None:
        """The update's handlers have run: it is answered."""
        self._in_progress.discard(update_id)
        self._presses_answered.discard(update_id)
        await self._run(lambda state: state.mark_update_handled(self.bot_id, update_id), "mark an update handled")
        self._marked += 1
        if self._marked % self.PRUNE_EVERY == 0:
            await self._run(lambda state: state.prune_updates(), "prune old updates")

    async def replied(self, update_id: int) -> None:
        """Telegram accepted the update's answer: a restart must not send it again."""
        await self._run(lambda state: state.mark_update_handled(self.bot_id, update_id), "mark an update answered")

    async def press_answered(self, update_id: int) -> None:
        """Telegram accepted the answer to the update's button press: a restart must not answer it again."""
        await self._run(lambda state: state.mark_press_answered(self.bot_id, update_id), "mark a press answered")

    def press_answered_before(self, update_id: int) -> bool:
        """Whether this update's press was answered before a restart (so it must not be answered now)."""
        return update_id in self._presses_answered

    def abandoned(self, update_id: int) -> None:
        """Handling was cut short (shutdown): left unhandled and its claim given up, so the next start
        (or another replica) answers it."""
        self._in_progress.discard(update_id)
        self._presses_answered.discard(update_id)
        self._thread.submit(self._use, lambda state: state.release_update(self.bot_id, update_id),
                            "give up a claim on an update")

    def start_sweeping(self, queue: asyncio.Queue[Any], bot: Any, every: float = SWEEP_SECONDS) -> None:
        """With a shared state, look every ``every`` seconds for updates another replica received and
        never answered, whose claim expired (that replica died), and answer them here; and renew the
        claims on the updates this replica is still answering, so a slow answer is not taken for a
        dead replica's."""
        async def sweep() -> None:
            while True:
                await asyncio.sleep(every)
                answering = list(self._in_progress)  # still being answered here: not dead, so renewed
                await self._run(lambda state: state.renew_updates(self.bot_id, answering), "renew claims")
                for update in await self.pending(bot, prune=False):
                    log.info("update %d: its replica's claim expired unanswered; answering it here",
                             update.update_id)
                    await queue.put(update)

        self._sweeper = asyncio.create_task(sweep(), name="update-sweeper")

    async def stop_sweeping(self) -> None:
        sweeper, self._sweeper = self._sweeper, None
        if sweeper is not None:
            sweeper.cancel()
            await asyncio.gather(sweeper, return_exceptions=True)

    async def pending(self, bot: Any, prune: bool = True) -> list[Update]:
        """This bot's updates received before a restart (or by a replica that died) and never handled,
        oldest first; those another replica is answering now are not among them.

        Inline queries are let go: their results only show while the user is still typing, and
        Telegram refuses answers to them seconds later.
        """
        def read(state: State) -> list[tuple[int, str]]:
            if prune:
                state.prune_updates()
            return state.unhandled_updates(self.bot_id)

        rows = await self._run(read, "read unhandled updates") or []
        updates = [Update.de_json(json.loads(body), bot) for _update_id, body in rows]
        for update in updates:
            if update.inline_query is not None:
                await self.finished(update.update_id)
        return [update for update in updates if update.inline_query is None]

    def close(self) -> None:
        """Let the ledger's thread go once the writes queued so far are done."""
        self._thread.shutdown(wait=True)


class DurableUpdateQueue(asyncio.Queue):  # type: ignore[type-arg]
    """The Application's update queue; every update is recorded before it is queued.

    Both the poller and the webhook ``put`` updates here before Telegram can consider them
    delivered (the poller asks past them only afterwards; the webhook answers 200 afterwards).
    ``put`` records in the ledger's thread; ``put_nowait`` (which nothing in python-telegram-bot
    calls with an update) records in the caller's.
    """

    def __init__(self, ledger: UpdateLedger) -> None:
        super().__init__()
        self.ledger = ledger

    async def put(self, item: Any) -> None:
        if isinstance(item, Update):
            await self.ledger.received(item)
        super().put_nowait(item)  # unbounded: never full, so put would not wait either

    def put_nowait(self, item: Any) -> None:
        if isinstance(item, Update):
            self.ledger.record(item)
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
        if not await self.ledger.claim(update.update_id):
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
        await self.ledger.finished(update.update_id)


class RetryingRateLimiter(AIORateLimiter):
    """AIORateLimiter (throttling and 429 retry_after) plus retries of 5xx and dropped connections.

    A timed-out send is not retried: Telegram may have delivered it, and a question must not be
    answered twice. The limiter also sees every answer Telegram accepts, so it marks the update
    being handled as answered at that moment, not when its handler returns: a crash in between (the
    handler logging, or a burst of sends released together after a 429) would otherwise answer it
    twice after a restart. A button press answered before a restart is not answered again.
    """

    def __init__(self, *args: Any, ledger: UpdateLedger | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ledger = ledger
        self.pacer: Pacer | None = None
        """Told of every message that is not a broadcast (answers), so broadcasts give way to it."""

    async def process_request(  # type: ignore[override]
        self, callback: Callable[..., Coroutine[Any, Any, Any]], args: Any, kwargs: dict[str, Any],
        endpoint: str, data: dict[str, Any], rate_limit_args: int | None,
    ) -> Any:
        if self.pacer is not None and endpoint in MESSAGE_ENDPOINTS:
            if _BROADCASTING.get() is None:
                self.pacer.note(_chat_of(data))
            callback = self._paced(callback, _chat_of(data))
        update_id = _HANDLING.get()
        ledger = self.ledger if update_id is not None else None
        if ledger is not None and update_id is not None and endpoint == PRESS_ENDPOINT \
                and ledger.press_answered_before(update_id):
            log.info("update %d: its button press was answered before a restart; not answered again", update_id)
            return True  # what Telegram answers to answerCallbackQuery
        result = await self._with_retries(callback, args, kwargs, endpoint, data, rate_limit_args)
        if ledger is not None and update_id is not None:
            if endpoint in REPLY_ENDPOINTS:
                await ledger.replied(update_id)
            elif endpoint == PRESS_ENDPOINT:
                await ledger.press_answered(update_id)
        return result

    def _paced(self, callback: Callable[..., Coroutine[Any, Any, Any]],
                chat_id: int | None) -> Callable[..., Coroutine[Any, Any, Any]]:
        """``callback`` telling the pacer of a 429 (everything pauses ``retry_after``), and, for a
        broadcast message whose slot was taken before such a pause, taking a new slot after it: the
        messages held by the pause would otherwise all go at once when it ends."""
        pacer = self.pacer
        reserved = _BROADCASTING.get()

        async def paced(*args: Any, **kwargs: Any) -> Any:
            nonlocal reserved
            if pacer is not None and reserved is not None and chat_id is not None and reserved != pacer.pauses:
                reserved = await pacer.slot(chat_id)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                if pacer is not None:
                    pacer.pause(_retry_delay(error, 1.0) + 0.1)
                raise

        return paced

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


def _chat_of(data: dict[str, Any]) -> int | None:
    try:
        return int(data["chat_id"])
    except (KeyError, TypeError, ValueError):
        return None


class Pacer:
    """Telegram's broadcast limits, kept by the bot rather than learnt from 429s.

    ``per_second`` messages in all (about 30 is Telegram's limit for a bot), one message a second to a
    private chat, 20 a minute to a group. Answers are never held here: they are only noted
    (``note``), which pushes the next broadcast message back, so answers go first and answers plus
    broadcasts stay within the pace. Broadcast messages take evenly spaced slots (``slot``), never a
    burst.
    """

    GROUP_PER_MINUTE = 20
    PRIVATE_GAP = 1.0
    STATUS_WINDOW = 10.0

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_second = per_second
        self.gap = 1.0 / per_second
        self.clock = clock
        self._next = 0.0
        self._chats: dict[int, deque[float]] = {}
        self._recent: deque[float] = deque()
        self.pauses = 0
        """How many 429s paused sending so far (``pause``)."""

    def pause(self, seconds: float) -> None:
        """Telegram asked for a pause (429 ``retry_after``): no broadcast slot before it ends."""
        self._next = max(self._next, self.clock() + seconds)
        self.pauses += 1

    def note(self, chat_id: int | None, at: float | None = None) -> None:
        """A message goes to ``chat_id`` at ``at`` (now): it takes a slot and counts for its chat."""
        now = self.clock() if at is None else at
        self._next = max(self._next, now) + self.gap
        self._recent.append(now)
        while self._recent and self._recent[0] < now - self.STATUS_WINDOW:
            self._recent.popleft()
        if chat_id is not None:
            window = self._chats.setdefault(chat_id, deque())
            window.append(now)
            while len(window) > self.GROUP_PER_MINUTE:
                window.popleft()

    async def slot(self, chat_id: int) -> int:
        """Wait for the next free slot for a broadcast message to ``chat_id`` (the chat is ready);
        returns the pause count the slot belongs to."""
        now = self.clock()
        start = max(self._next, now)
        self.note(chat_id, start)
        pauses = self.pauses
        if start > now:
            await asyncio.sleep(start - now)
        return pauses

    def ready_at(self, chat_id: int) -> float:
        """When ``chat_id`` may get its next message (in the past: now)."""
        window = self._chats.get(chat_id)
        if not window:
            return 0.0
        if chat_id < 0:
            return window[0] + 60.0 if len(window) >= self.GROUP_PER_MINUTE else 0.0
        return window[-1] + self.PRIVATE_GAP

    def waiting(self) -> dict[int, float]:
        """Chats that may not have a message yet, with when they may; chats long quiet are forgotten."""
        now = self.clock()
        waiting = {}
        for chat_id in list(self._chats):
            window = self._chats[chat_id]
            if window[-1] < now - 60.0:
                del self._chats[chat_id]
                continue
            ready = self.ready_at(chat_id)
            if ready > now:
                waiting[chat_id] = ready
        return waiting

    def current(self) -> float:
        """Messages per second over the last ten seconds."""
        now = self.clock()
        return sum(1 for when in self._recent if when >= now - self.STATUS_WINDOW) / self.STATUS_WINDOW


def _retry_delay(error: Exception, otherwise: float) -> float:
    """Seconds to wait before trying a row again: a 429's ``retry_after``, else ``otherwise``."""
    wait = getattr(error, "_retry_after", None)  # as AIORateLimiter reads it: the property warns in v22
    return wait.total_seconds() if isinstance(wait, timedelta) else otherwise


def _markup(rows: Sequence[Sequence[dict[str, str]]]) -> InlineKeyboardMarkup | None:
    if not rows:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(b["label"], callback_data=b.get("data"), url=b.get("url"))
                                  for b in row] for row in rows])


class Broadcaster:
    """Delivers the outbox to followers in the background, paced, answers first.

    New articles (``announce``, from the reloader's thread) and each day's digests (``digest_hour`` in
    ``digest_timezone`` by ``clock``, which tests set) become outbox rows, one per (chat, item), in one
    transaction; a task on the event loop sends them. Each row is marked the moment Telegram accepts it,
    so a restart resumes after the last accepted one. A chat that blocked the bot (403, or "chat not
    found") loses its follows and its queued messages, logged once; 5xx errors and dropped connections
    are retried (by the rate limiter, then again later); a timed-out send is not, since Telegram may
    have delivered it (at most once); a 429 waits ``retry_after``.
    """

    CONCURRENT = 8
    """Messages in flight at once: the pace, not the round trip, should bound the rate."""
    BATCH = 200
    IDLE_CHECK = 30.0
    """Seconds between looks at the outbox and the clock when nothing woke the broadcaster."""
    RETRY_AFTER = 30.0
    MAX_ATTEMPTS = 6
    """A row failing with server errors this many times is given up (logged)."""
    LEADER_CHECK = 5.0
    """Seconds between a standby replica's tries to become the sender (shared database)."""

    def __init__(self, dialogue: Dialogue, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.dialogue = dialogue
        self.settings = settings
        self.clock = clock
        self.pacer = Pacer(settings.broadcast_per_second)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="outbox")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._sending: asyncio.Semaphore | None = None
        self._sends: set[asyncio.Task[None]] = set()
        self._in_flight: set[int] = set()
        self._stopping = False
        self._digest_done: float | None = None
        self._leader: Held | None = None

    @property
    def bot_id(self) -> int:
        return self.dialogue.following.bot_id

    def serves(self, chat_id: int) -> bool:
        """Whether messages may go to ``chat_id``: ``allowed_chat_ids`` applies, and admins' own chats."""
        allowed = self.settings.allowed_chat_ids
        return not allowed or chat_id in allowed or chat_id in self.settings.admin_user_ids

    # --- from other threads -------------------------------------------------------------------

    def announce(self, engine: Engine, articles: tuple[Article, ...]) -> None:
        """New articles (the reloader's thread): queue one message per (article, following chat)."""
        state = self.dialogue.state
        deliveries = self.dialogue.announcements(engine, articles, self.serves, when=self.clock())
        queued = state.queue_deliveries(self.bot_id, deliveries)
        log.info("%d new article(s): %d message(s) to followers queued", len(articles), queued)
        self.poke()

    def poke(self) -> None:
        """Look at the outbox and the clock now (thread-safe)."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    def pace(self) -> BroadcastPace:
        """The live figures /broadcast_status shows."""
        now = self.clock()
        return BroadcastPace(self.pacer.per_second, self.pacer.current(),
                             next_digest_moment(now, self.settings.digest_hour, self.settings.digest_timezone))

    # --- on the event loop --------------------------------------------------------------------

    async def start(self, bot: Any) -> None:
        """Begin delivering with ``bot`` (after the application started)."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._sending = asyncio.Semaphore(self.CONCURRENT)
        self._stopping = False
        self._task = asyncio.create_task(self._run(bot), name="broadcaster")

    async def stop(self) -> None:
        """Stop taking rows; the messages in flight are sent and recorded first (the rest wait for the
        next start)."""
        self._stopping = True
        if self._wake is not None:
            self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    def close(self) -> None:
        self._thread.shutdown(wait=True)

    async def _db(self, work: Callable[[State], T]) -> T:
        state = self.dialogue.state
        return await asyncio.get_running_loop().run_in_executor(self._thread, work, state)

    async def _run(self, bot: Any) -> None:
        pruned = False
        while not self._stopping:
            assert self._wake is not None
            self._wake.clear()  # cleared before looking: a poke while looking cuts the pause short
            try:
                if not await self._lead():
                    await self._pause(self.LEADER_CHECK)
                    continue
                if not pruned:
                    await self._db(lambda state: state.prune_outbox())
                    pruned = True
                await self._queue_digests()
                if not await self._drain(bot) and not self._stopping:
                    await self._pause(await self._idle_seconds())
            except Exception:
                log.exception("delivering to followers failed; trying again in %.0f s", self.IDLE_CHECK)
                await self._pause(self.IDLE_CHECK)
        if self._sends:
            await asyncio.gather(*self._sends, return_exceptions=True)
        leader, self._leader = self._leader, None
        if leader is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, leader.release)

    async def _lead(self) -> bool:
        """Whether this process is the one that sends (taking the role if no live process holds it).

        Replicas sharing a database send one at a time, so ``broadcast_per_second`` (and Telegram's
        limit) holds for the bot, not per replica; when the sender dies, its lock goes with its
        connection and another replica takes over at its next look (``LEADER_CHECK``). Outbox claims
        still make each row go once should two ever send at once. With SQLite this is always true.
        """
        leader = self._leader
        if leader is not None:
            if await asyncio.get_running_loop().run_in_executor(self._thread, leader.alive):
                return True
            log.warning("lost the broadcaster's lock (its database connection failed); trying to take it again")
            self._leader = None
        self._leader = await self._db(lambda state: state.try_hold("broadcaster"))
        if self._leader is not None and self.dialogue.state.shared:
            log.info("this replica now delivers to followers")
        return self._leader is not None

    async def _idle_seconds(self) -> float:
        """How long nothing can go: until the next digest, a chat's next slot or a postponed row."""
        now = self.clock()
        waits = [self.IDLE_CHECK,
                 next_digest_moment(now, self.settings.digest_hour, self.settings.digest_timezone) - now]
        ready = self.pacer.waiting()
        if ready:
            waits.append(min(ready.values()) - self.pacer.clock())
        due = await self._db(lambda state: state.next_due(self.bot_id))
        if due is not None and not self._in_flight:
            waits.append(due - time.time())
        return max(0.02, min(waits))

    async def _pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if poked (a new article, a send done, stop)."""
        assert self._wake is not None
        if self._stopping:
            return
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except TimeoutError:
            pass

    async def _queue_digests(self) -> None:
        """Queue the digests of the latest digest moment, once (recorded with them in one transaction)."""
        moment = latest_digest_moment(self.clock(), self.settings.digest_hour, self.settings.digest_timezone)
        if self._digest_done is not None and moment <= self._digest_done:
            return

        def queue(state: State) -> float:
            last = state.last_digest(self.bot_id)
            if last is not None and last >= moment:
                return last
            since = last if last is not None else moment - 86400
            deliveries = self.dialogue.daily_digests(moment, since, self.serves)
            queued = state.queue_deliveries(self.bot_id, deliveries, digest_moment=moment)
            if queued:
                log.info("daily digests: %d message(s) to followers queued", queued)
            state.prune_outbox()
            return moment

        self._digest_done = await self._db(queue)

    async def _drain(self, bot: Any) -> bool:
        """Send what is due, paced; False when nothing could go now."""
        assert self._sending is not None
        skip = set(self._in_flight) | set(self.pacer.waiting())
        rows = await self._db(lambda state: state.due_deliveries(self.bot_id, time.time(), self.BATCH, skip))
        started = 0
        unsent: list[int] = []
        for index, row in enumerate(rows):
            if self._stopping:
                unsent.extend(later.rowid for later in rows[index:])
                break
            if row.chat_id in self._in_flight or self.pacer.ready_at(row.chat_id) > self.pacer.clock():
                unsent.append(row.rowid)
                continue
            await self._sending.acquire()
            if self._stopping:
                self._sending.release()
                unsent.extend(later.rowid for later in rows[index:])
                break
            pauses = await self.pacer.slot(row.chat_id)
            self._in_flight.add(row.chat_id)
            task = asyncio.create_task(self._send(bot, row, pauses))
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)
            started += 1
        if unsent:  # claimed but not sent now: free for the next look (here or on another replica)
            await self._db(lambda state: state.release_deliveries(unsent))
        return started > 0

    async def _send(self, bot: Any, row: OutboxMessage, pauses: int) -> None:
        assert self._sending is not None
        outcome: str | None = SENT
        retry_at: float | None = None
        broadcasting = _BROADCASTING.set(pauses)
        try:
            await bot.send_message(row.chat_id, row.html, parse_mode=ParseMode.HTML, reply_markup=_markup(row.buttons),
                                   link_preview_options=LinkPreviewOptions(is_disabled=True))
        except Forbidden as error:
            outcome = None
            await self._drop(row.chat_id, str(error))
        except BadRequest as error:
            if "chat not found" in str(error).lower():
                outcome = None
                await self._drop(row.chat_id, str(error))
            else:
                outcome = f"failed: {error}"
                log.warning("a message to followers was refused (chat %d, %s): %s", row.chat_id, row.item, error)
        except TimedOut:
            outcome = UNSURE  # Telegram may have delivered it: not sent again (at most once)
            log.warning("a message to followers timed out (chat %d, %s); not sent again", row.chat_id, row.item)
        except (RetryAfter, NetworkError) as error:
            if row.attempts + 1 >= self.MAX_ATTEMPTS:
                outcome = f"failed: {error}"
                log.warning("gave up a message to followers after %d attempts (chat %d, %s): %s",
                            row.attempts + 1, row.chat_id, row.item, error)
            else:
                outcome, retry_at = None, time.time() + _retry_delay(error, self.RETRY_AFTER * 2 ** row.attempts)
        except Exception as error:  # noqa: BLE001 - one bad row must not stop the others
            outcome = f"failed: {type(error).__name__}"
            log.exception("a message to followers failed (chat %d, %s)", row.chat_id, row.item)
        finally:
            _BROADCASTING.reset(broadcasting)
        try:
            if outcome is not None:
                await self._db(lambda state: state.delivered(row.rowid, outcome))
            elif retry_at is not None:
                await self._db(lambda state: state.postpone(row.rowid, retry_at))
        except self.dialogue.state.errors as error:
            log.warning("could not record a delivery to followers in the state store: %s", error)
        finally:
            self._in_flight.discard(row.chat_id)
            self._sending.release()
            if self._wake is not None:
                self._wake.set()

    async def _drop(self, chat_id: int, why: str) -> None:
        """The chat blocked the bot, left or is gone: its follows go, and nothing more is tried there."""
        gone = await self._db(lambda state: state.drop_chat(self.bot_id, chat_id))
        if gone:
            log.warning("chat %d cannot be reached (%s): its %d follow(s) removed", chat_id, why, gone)
