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
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from typing import Any, TypeVar

from telegram import Update
from telegram.error import BadRequest, NetworkError, TimedOut
from telegram.ext import AIORateLimiter, SimpleUpdateProcessor

from bot.telegram.state import State, UpdateRecord

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

    async def _run(self, action: Callable[[State], T], what: str) -> T | None:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._use, action, what)

    def _use(self, action: Callable[[State], T], what: str) -> T | None:
        state = self._state()
        if state is None:
            return None
        try:
            return action(state)
        except sqlite3.Error as error:
            log.warning("could not %s in the state file: %s", what, error)
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
        record: UpdateRecord | None = await self._run(lambda state: state.update_record(self.bot_id, update_id),
                                                      "look up an update")
        if record is not None and record.handled:
            self._in_progress.discard(update_id)
            return False
        if record is not None and record.press_answered:
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
        """Handling was cut short (shutdown): left unhandled, so the next start answers it."""
        self._in_progress.discard(update_id)
        self._presses_answered.discard(update_id)

    async def pending(self, bot: Any) -> list[Update]:
        """This bot's updates received before a restart and never handled, oldest first.

        Inline queries are let go: their results only show while the user is still typing, and
        Telegram refuses answers to them seconds later.
        """
        rows = await self._run(lambda state: (state.prune_updates(), state.unhandled_updates(self.bot_id))[1],
                               "read unhandled updates") or []
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

    async def process_request(  # type: ignore[override]
        self, callback: Callable[..., Coroutine[Any, Any, Any]], args: Any, kwargs: dict[str, Any],
        endpoint: str, data: dict[str, Any], rate_limit_args: int | None,
    ) -> Any:
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
