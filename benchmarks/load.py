"""Load, soak and fault run of the real bot: `articlebot telegram` against the local Bot API stand-in.

    .venv/bin/python benchmarks/load.py                    # 200 chats, 2,000 updates
    .venv/bin/python benchmarks/load.py --faults           # + 429/5xx/slow/dropped answers, SIGKILL, SIGHUP reload
    .venv/bin/python benchmarks/load.py --soak 20000       # 20,000 updates, RSS sampled over time

The bot runs as a subprocess (``articlebot telegram``, started through this script so that a lag
probe runs inside it) on a temporary copy of the corpus
(the bundled ``corpus/`` unless ``--corpus``), with a temporary state file and index cache,
long-polling ``tests/support/botapi.py`` over real HTTP. Each chat is a user who waits for the answer to
their last update before sending the next (questions, commands, presses of a button on one of
the bot's earlier messages, inline queries), and the updates are offered at ``--rate`` per second.

An update counts as answered by the first successful call that answers it: ``sendMessage``
replying to the user's message, ``answerCallbackQuery`` with the query's id, or
``answerInlineQuery`` with the query's id. Latency is from the moment the update is available
to ``getUpdates`` to the moment that call reaches the stand-in. Printed: lost and duplicated
answers (and which duplicates the delivery contract allows: answers in flight at the SIGKILL),
every 400 the API returned, p50/p99 latency, the bot's peak RSS (with its children),
the lag of the bot's event loop (a probe task inside the bot sleeps 10 ms in a loop and records
how late it wakes: ``loop_lag_ms`` p50/p99/max while the updates were being answered), and in soak
mode the RSS growth after warm-up. Exits 1 if any update was lost or answered
twice (beyond one for an update in flight at the SIGKILL), if any other 400 occurred, if the
reload (with ``--faults``) was not seen, or if the bot's output contains the token.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.botapi import BotApiServer, Call  # noqa: E402 - tests/ is on the path only from here

TOKEN = "123456:ABC-load-test-token-not-real"
PROBE_CHAT = 9_000_001
FIRST_CHAT = 10_000
QUESTIONS = [
    "DeepSeek V3 的训练成本是多少？", "英偉達股價", "Bitcoin price this week", "英伟达股价下跌了多少？",
    "特朗普 关税", "美联储 降息", "GPT-4o 自拍", "半导体", "苹果 发布会", "道指升了多少点？",
    "DeepSeek R1 的 API 价格", "how to bake a chocolate cake", "<b>DeepSeek</b> & <script>",
    "那 R1 呢？", "iyiou", "Why Comcast lacks a moat", "金龍指數", "OpenAI o1",
]
COMMANDS = ["/start", "/help", "/about", "/tags", "/tag iyiou", "/latest 3", "/source DeepSeek",
            "/ask 英伟达股价", "/ask", "/tag", "/nonsense", "/start tag_iyiou"]
INLINE = ["DeepSeek", "英伟达", "", "Bitcoin", "关税", "cake"]
KINDS = ("question", "command", "press", "inline")
WEIGHTS = (0.5, 0.15, 0.2, 0.15)
FAULTS = [("sendMessage", "429"), ("sendMessage", "500"), ("sendMessage", "502"), ("sendMessage", "drop"),
          ("sendMessage", "slow"), ("answerCallbackQuery", "500"), ("answerCallbackQuery", "drop"),
          ("answerInlineQuery", "429"), ("answerInlineQuery", "502"), ("editMessageText", "500"),
          ("sendChatAction", "429"), ("getUpdates", "500"), ("getUpdates", "drop"), ("getUpdates", "slow")]
NEW_ARTICLE = """---
title: "The Qilian zebrafinch observatory's record night"
date: 2025-03-01
url: https://example.com/load-test/qilian-zebrafinch-observatory
tags: [observatory]
---

The Qilian zebrafinch observatory counted 4,812 meteors during the night of the Quadrantid
shower, a record for the mountain station since it opened.

The volunteers who run the zebrafinch observatory keep the count by hand, two observers per
quarter of the sky, and compare their tallies with the station's video cameras at dawn.

祁连斑胸雀天文台在象限仪座流星雨之夜记录了4812颗流星，创下该站建站以来的纪录。
"""
NEW_QUESTION = "How many meteors did the Qilian zebrafinch observatory count?"
NEW_MARKER = "4,812 meteors"
"""In the new article's answer, and not in the question (a "nothing answers" reply echoes it)."""


@dataclass
class Update:
    kind: str
    key: tuple[Any, ...]
    chat: int
    sent: float
    text: str = ""
    update_id: int = 0
    answers: list[float] = field(default_factory=list)


class Tracker:
    """Reads the stand-in's call log as it grows and matches each answer to its update."""

    def __init__(self, api: BotApiServer) -> None:
        self.api = api
        self.seen = 0
        self.updates: dict[tuple[Any, ...], Update] = {}
        self.buttons: dict[int, list[int]] = defaultdict(list)  # bot messages with callback buttons
        self.texts: dict[tuple[Any, ...], list[str]] = defaultdict(list)
        self.unmatched: Counter[str] = Counter()
        self.typing: list[tuple[int, float]] = []  # (chat, time) of each sendChatAction
        self.apologies = 0
        self.rate_limited = 0
        self.answered_at = time.monotonic()

    def add(self, update: Update) -> None:
        self.updates[update.key] = update

    def poll(self) -> None:
        with self.api.state.cond:
            new = self.api.state.calls[self.seen:]
        self.seen += len(new)
        for call in new:
            if call.ok:
                self._match(call)

    def _match(self, call: Call) -> None:
        method = call.method.lower()
        key: tuple[Any, ...] | None = None
        if method == "sendmessage":
            result = call.result
            reply = call.params.get("reply_parameters") or {}
            chat = result["chat"]["id"]
            if isinstance(reply, dict) and reply.get("message_id") is not None:
                key = ("m", chat, reply["message_id"])
            markup = result.get("reply_markup") or {}
            if any("callback_data" in b for row in markup.get("inline_keyboard", []) for b in row):
                self.buttons[chat].append(result["message_id"])
            text = result.get("text", "")
            self.apologies += text.startswith(("Sorry, something went wrong", "抱歉，回答时出了点问题"))
            self.rate_limited += "faster than I can answer" in text or "提问太快了" in text
            if key is not None:
                self.texts[key].append(text)
        elif method == "sendchataction":
            self.typing.append((call.params.get("chat_id"), call.time))
        elif method == "answercallbackquery":
            key = ("cb", str(call.params.get("callback_query_id")))
        elif method == "answerinlinequery":
            key = ("iq", str(call.params.get("inline_query_id")))
        if key is None:
            return
        update = self.updates.get(key)
        if update is None:
            self.unmatched[method] += 1
            return
        update.answers.append(call.time)
        self.answered_at = time.monotonic()

    def answered(self, key: tuple[Any, ...]) -> bool:
        update = self.updates.get(key)
        return update is not None and bool(update.answers)


LAG_EVERY = 0.010
"""Seconds the lag probe sleeps per turn; how late it wakes is what the event loop made it wait."""
BOT_WITH_PROBE = "_bot-with-lag-probe"
"""First argument that makes this script run the bot itself, with the lag probe (the subprocess's command)."""


def bot_with_lag_probe(samples: Path, argv: list[str]) -> int:
    """``articlebot *argv``, with ``probe_lag`` running on the Application's event loop from its start.

    The probe is added from outside (``Application.start`` wrapped in this process only), so the
    bot measured is the bot deployed: no code of its own serves the benchmark.
    """
    from telegram.ext import Application

    from bot.cli import main as articlebot

    start = Application.start
    running: list[asyncio.Task[None]] = []  # a task nothing refers to may be collected mid-run

    async def start_with_probe(self: Application) -> None:  # type: ignore[type-arg]
        await start(self)
        running.append(asyncio.get_running_loop().create_task(probe_lag(samples)))

    Application.start = start_with_probe  # type: ignore[method-assign]
    gc.callbacks.append(_full_collections(samples.with_suffix(".gc.txt")))
    return articlebot(argv)


def _full_collections(path: Path) -> Callable[[str, dict[str, int]], None]:
    """A ``gc.callbacks`` entry that appends "wall-clock time, ms" of each full (generation 2)
    collection to ``path``: a pause of every thread, the event loop's included."""
    began: list[float] = []

    def note(phase: str, info: dict[str, int]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            began[:] = [time.perf_counter()]
        elif began:
            with path.open("a", encoding="utf-8") as out:
                out.write(f"{time.time():.3f} {(time.perf_counter() - began[0]) * 1000:.3f}\n")

    return note


async def probe_lag(samples: Path) -> None:
    """Sleep LAG_EVERY in a loop; append "wall-clock time, ms late" per wake-up to ``samples``.

    A wake-up is late by as long as a callback held the loop (SQLite, a search run on it): that
    is how long every other chat waited. Lines are written once a second, in one small write.
    """
    loop = asyncio.get_running_loop()
    pending: list[str] = []
    flushed = loop.time()
    with samples.open("a", encoding="utf-8") as out:
        while True:
            before = loop.time()
            await asyncio.sleep(LAG_EVERY)
            woke = loop.time()
            pending.append(f"{time.time():.3f} {(woke - before - LAG_EVERY) * 1000:.3f}\n")
            if woke - flushed >= 1.0:
                out.writelines(pending)
                out.flush()
                pending.clear()
                flushed = woke


def loop_lag(samples: Path, since: float, until: float) -> dict[str, Any]:
    """p50/p99/max of the probe's lateness (ms) between two wall-clock times, how many were ≥ 50 ms,
    and the full garbage collections in that time (ms each): they pause the loop too."""
    def timed(path: Path) -> list[float]:
        if not path.exists():
            return []
        values = []
        for line in path.read_text(encoding="utf-8").splitlines():
            when, _, value = line.partition(" ")
            if value and since <= float(when) <= until:
                values.append(float(value))
        return values

    lags = timed(samples)
    collections = timed(samples.with_suffix(".gc.txt"))
    return {"samples": len(lags), "p50": round(percentile(lags, 50), 2), "p99": round(percentile(lags, 99), 2),
            "max": round(max(lags, default=float("nan")), 1), "over_50ms": sum(lag >= 50 for lag in lags),
            "full_gc_ms": [round(ms, 1) for ms in collections]}


class BotProcess:
    """`python -m bot telegram` on the temporary corpus, state and cache; restartable.

    It runs as ``load.py _bot-with-lag-probe FILE telegram …``: the bot, with the lag probe.
    """

    def __init__(self, api: BotApiServer, work: Path, corpus: Path, rate_limit: int | None,
                 cache: Path | None = None) -> None:
        self.api, self.work, self.corpus = api, work, corpus
        self.cache = cache or work / "cache"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("ARTICLEBOT_", "TELEGRAM_"))}
        self.env |= {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": api.base_url,
                     "ARTICLEBOT_STATE": str(work / "state.sqlite"), "PYTHONPATH": str(REPO),
                     "PYTHONUNBUFFERED": "1"}
        if rate_limit is not None:
            self.env["ARTICLEBOT_RATE_LIMIT"] = str(rate_limit)
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.ready_seconds: list[float] = []

    @property
    def lag_samples(self) -> Path:
        return self.work / "loop-lag.txt"

    @property
    def log_paths(self) -> list[Path]:
        return [self.work / f"bot-{n}.log" for n in range(1, self.starts + 1)]

    def start(self, timeout: float = 180, wait: bool = True) -> None:
        """Start the bot; with ``wait`` False, return at once and note the time to polling in the background."""
        self.starts += 1
        began = time.time()
        with (self.work / f"bot-{self.starts}.log").open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), BOT_WITH_PROBE, str(self.lag_samples),
                 "telegram", "--corpus", str(self.corpus), "--cache-dir", str(self.cache)],
                cwd=self.work, env=self.env, stdout=log, stderr=subprocess.STDOUT)

        def polling() -> None:
            self.api.wait_for(lambda c: c.method == "getUpdates" and c.time >= began, timeout=timeout)
            self.ready_seconds.append(time.time() - began)

        if wait:
            polling()
        else:
            threading.Thread(target=polling, daemon=True).start()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss(self) -> int:
        """Resident memory of the bot and its children (index workers), bytes; 0 when not running."""
        if not self.alive():
            return 0
        assert self.proc is not None
        try:
            process = psutil.Process(self.proc.pid)
            return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])
        except psutil.Error:
            return 0

    def signal(self, number: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(number)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Sampler(threading.Thread):
    """RSS of the bot every ``every`` seconds, with how many updates had been sent by then."""

    def __init__(self, bot: BotProcess, progress: list[int], every: float) -> None:
        super().__init__(daemon=True)
        self.bot, self.progress, self.every = bot, progress, every
        self.samples: list[tuple[float, int, int]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        while not self.stopping.wait(self.every):
            rss = self.bot.rss()
            if rss:
                self.samples.append((time.monotonic() - started, self.progress[0], rss))


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


class Load:
    """Drives the chats, injects faults, kills and reloads the bot, and reports."""

    def __init__(self, args: argparse.Namespace, api: BotApiServer, bot: BotProcess, corpus: Path) -> None:
        self.args, self.api, self.bot, self.corpus = args, api, bot, corpus
        self.rng = random.Random(args.seed)
        self.tracker = Tracker(api)
        self.chats = list(range(FIRST_CHAT, FIRST_CHAT + args.chats))
        self.busy: dict[int, tuple[tuple[Any, ...], float]] = {}
        self.progress = [0]
        self.faults: Counter[str] = Counter()
        self.events: list[str] = []
        self.kill_at = int(args.updates * 0.35) if args.faults else None
        self.reload_at = int(args.updates * 0.6) if args.faults else None
        self.reload: dict[str, Any] = {}
        self.sent_kinds: Counter[str] = Counter()
        self.cursor = 0
        self.killed: float | None = None

    # -- one update ---------------------------------------------------------------------------

    def lang(self, chat: int) -> str:
        return "zh-hans" if chat % 4 == 0 else "en"

    def send(self, chat: int, kind: str) -> Update:
        now = time.time()
        if kind == "press":
            update = self._press(chat, now)
            if update is not None:
                return update
            kind = "question"
        if kind == "inline":
            query = self.rng.choice(INLINE)
            query_id = self.api.inline_query(chat, query)
            return Update(kind, ("iq", query_id), chat, now, query, self.last_update_id())
        text = self.rng.choice(QUESTIONS if kind == "question" else COMMANDS)
        return self._message(chat, text, kind, now)

    def _message(self, chat: int, text: str, kind: str, now: float) -> Update:
        update_id, message = self.api.send_text(chat, text, language_code=self.lang(chat))
        return Update(kind, ("m", chat, message["message_id"]), chat, now, text, update_id)

    def _press(self, chat: int, now: float) -> Update | None:
        """A tap on a callback button of one of the bot's messages in this chat, each message once."""
        candidates = self.tracker.buttons.get(chat, [])
        while candidates:
            message_id = candidates.pop(self.rng.randrange(len(candidates)))
            message = self.api.current_message(chat, message_id)
            rows = ((message or {}).get("reply_markup") or {}).get("inline_keyboard", [])
            data = [b["callback_data"] for row in rows for b in row if "callback_data" in b]
            if message and data:
                choice = self.rng.choice(data)
                query_id = self.api.press(message, choice, user_id=chat)
                return Update("press", ("cb", query_id), chat, now, choice, self.last_update_id())
        return None

    def last_update_id(self) -> int:
        with self.api.state.cond:
            return int(self.api.state.updates[-1]["update_id"]) if self.api.state.updates else 0

    def idle_chat(self) -> int | None:
        """The next chat (round robin) whose last update was answered, or that waited 30 s in vain."""
        now = time.monotonic()
        for step in range(len(self.chats)):
            chat = self.chats[(self.cursor + step) % len(self.chats)]
            pending = self.busy.get(chat)
            if pending is None or self.tracker.answered(pending[0]) or now - pending[1] > 30:
                self.cursor = (self.cursor + step + 1) % len(self.chats)
                return chat
        return None

    # -- the run ------------------------------------------------------------------------------

    def run(self) -> None:
        interval = 1.0 / self.args.rate if self.args.rate > 0 else 0.0
        if self.args.faults:
            self.baseline_probe()
        next_at = time.monotonic()
        total = self.args.updates
        while self.progress[0] < total:
            self.tracker.poll()
            self.events_due()
            now = time.monotonic()
            if now < next_at:
                time.sleep(min(next_at - now, 0.005))
                continue
            chat = self.idle_chat()
            if chat is None:
                time.sleep(0.005)
                continue
            kind = self.rng.choices(KINDS, WEIGHTS)[0]
            update = self.send(chat, kind)
            self.tracker.add(update)
            self.sent_kinds[update.kind] += 1
            self.busy[chat] = (update.key, time.monotonic())
            self.progress[0] += 1
            next_at = max(next_at + interval, now - 1.0)
            if self.args.faults and self.progress[0] % self.args.fault_every == 0 \
                    and 0.05 * total < self.progress[0] < 0.95 * total:
                method, kind = FAULTS[(self.progress[0] // self.args.fault_every) % len(FAULTS)]
                self.api.fail_next(method, kind, retry_after=1, delay=2.0)
                self.faults[f"{method} {kind}"] += 1
            if self.progress[0] % max(1, total // 20) == 0:
                print(f"  sent {self.progress[0]:,}/{total:,}  answered "
                      f"{sum(bool(u.answers) for u in self.tracker.updates.values()):,}", flush=True)
        self.finish_reload_probe(deadline=time.monotonic() + 90)
        self.settle()

    def settle(self) -> None:
        """Wait until every update is answered, or nothing new was answered for --settle seconds."""
        while True:
            self.tracker.poll()
            missing = [u for u in self.tracker.updates.values() if not u.answers
                       and not (u.kind == "inline" and self.killed and u.sent < self.killed)]
            if not missing or time.monotonic() - self.tracker.answered_at > self.args.settle:
                break
            time.sleep(0.1)
        time.sleep(1.0)  # late duplicates, if any, arrive now
        self.tracker.poll()

    def events_due(self) -> None:
        if self.kill_at is not None and self.progress[0] >= self.kill_at:
            self.kill_at = None
            burst = self.burst(20)
            chats = {u.chat for u in burst}

            def moment() -> bool:
                if self.args.kill_moment == "answer":
                    return any(u.answers for u in burst)
                return any(chat in chats and at >= burst[0].sent for chat, at in self.tracker.typing[-40:])

            while not moment() and time.time() - burst[0].sent < 10:
                self.tracker.poll()
                time.sleep(0.001)
            killed = self.killed = time.time()
            self.bot.kill()
            self.tracker.poll()
            done = sum(bool(u.answers) for u in burst)
            self.events.append(f"SIGKILL after {self.progress[0]:,} updates, {(killed - burst[0].sent) * 1000:.0f} ms "
                               f"after a burst of {len(burst)} questions ({done} answered before the kill)")
            self.bot.start(wait=False)  # users keep writing while it starts
            self.events.append("restarted at once (bot_ready_s has how long until it polled again)")
        if self.reload_at is not None and self.progress[0] >= self.reload_at:
            self.reload_at = None
            self.start_reload()
        if self.reload.get("started") and not self.reload.get("done"):
            self.reload_probe()

    def burst(self, size: int) -> list[Update]:
        """Questions from up to ``size`` idle chats at once: in flight together when the bot is killed."""
        updates = []
        for _ in range(size):
            chat = self.idle_chat()
            if chat is None:
                break
            update = self._message(chat, self.rng.choice(QUESTIONS), "question", time.time())
            self.tracker.add(update)
            self.sent_kinds["question"] += 1
            self.busy[chat] = (update.key, time.monotonic())
            self.progress[0] += 1
            updates.append(update)
        return updates

    # -- the reload ----------------------------------------------------------------------------

    def probe(self) -> Update:
        update = self._message(PROBE_CHAT, NEW_QUESTION, "probe", time.time())
        self.tracker.add(update)
        self.sent_kinds["probe"] += 1
        return update

    def baseline_probe(self) -> None:
        update = self.probe()
        deadline = time.monotonic() + 60
        while not update.answers and time.monotonic() < deadline:
            self.tracker.poll()
            time.sleep(0.05)
        texts = self.tracker.texts.get(update.key, [])
        self.reload["before"] = "answered from the new article (already?)" if any(
            NEW_MARKER in t for t in texts) else "not answered from it (as expected)"

    def start_reload(self) -> None:
        (self.corpus / "news" / "load-test-qilian-observatory.en.md").write_text(NEW_ARTICLE, encoding="utf-8")
        self.bot.signal(signal.SIGHUP)
        self.reload |= {"started": time.monotonic(), "probes": 0, "after": self.progress[0]}
        self.events.append(f"new article written and SIGHUP sent after {self.progress[0]:,} updates")

    def reload_probe(self) -> None:
        if not self.bot.alive():
            code = self.bot.proc.returncode if self.bot.proc else None
            self.events.append(f"the bot exited on SIGHUP (exit status {code}); restarted")
            self.reload["exited"] = code
            self.bot.start()
        last = self.reload.get("last")
        if last is not None and not last.answers:
            return
        if last is not None and any(NEW_MARKER in t for t in self.tracker.texts.get(last.key, [])):
            self.reload["done"] = time.monotonic() - self.reload["started"]
            self.events.append(f"a question only the new article answers was answered from it "
                               f"{self.reload['done']:.1f} s after SIGHUP ({self.reload['probes']} probes)")
            return
        if last is None or time.monotonic() - self.reload.get("probed", 0) > 1.0:
            self.reload["last"] = self.probe()
            self.reload["probed"] = time.monotonic()
            self.reload["probes"] += 1

    def finish_reload_probe(self, deadline: float) -> None:
        while self.reload.get("started") and not self.reload.get("done") and time.monotonic() < deadline:
            self.tracker.poll()
            self.reload_probe()
            time.sleep(0.05)

    # -- the report ----------------------------------------------------------------------------

    def in_flight_at_kill(self, update: Update | None) -> bool:
        """Whether ``update`` was first answered before the SIGKILL and not again until after it."""
        if update is None or self.killed is None or not update.answers or update.answers[0] > self.killed:
            return False
        return len(update.answers) == 1 or update.answers[1] > self.killed

    def report(self, sampler: Sampler, wall: float, began: float) -> dict[str, Any]:
        updates = list(self.tracker.updates.values())
        last_answer = max((u.answers[-1] for u in updates if u.answers), default=time.time())
        # The bot lets inline queries interrupted by a crash go (Telegram expires them in seconds).
        let_go = [u for u in updates if not u.answers and u.kind == "inline" and self.killed
                  and u.sent < self.killed]
        lost = [u for u in updates if not u.answers and u not in let_go]
        duplicated = [u for u in updates if len(u.answers) > 1]
        # The delivery contract allows one duplicate for an update whose answer was in flight at the
        # SIGKILL: accepted by Telegram (here, by the stand-in) before the kill, answered again after it.
        at_kill = [u for u in duplicated if self.in_flight_at_kill(u) and len(u.answers) == 2]
        latency = [(u.answers[0] - u.sent) * 1000 for u in updates if u.answers]
        by_kind = {kind: [(u.answers[0] - u.sent) * 1000 for u in updates if u.kind == kind and u.answers]
                   for kind in (*KINDS, "probe")}
        calls = self.api.calls
        bad = Counter(f"{c.method}: {c.response.get('description')}" for c in calls
                      if c.status == 400 and isinstance(c.response, dict))
        # A press answered in flight at the kill is answered again after the restart: Telegram
        # refuses that second answerCallbackQuery. The same one duplicate the contract allows.
        refused_at_kill = [c for c in calls if c.status == 400 and c.method == "answerCallbackQuery"
                           and self.killed is not None and c.time > self.killed
                           and self.in_flight_at_kill(self.tracker.updates.get(
                               ("cb", str(c.params.get("callback_query_id")))))]
        statuses = Counter(c.status for c in calls)
        rss = [s[2] for s in sampler.samples]
        result: dict[str, Any] = {
            "mode": "soak" if self.args.soak else ("faults" if self.args.faults else "load"),
            "chats": self.args.chats, "updates": len(updates), "sent_by_kind": dict(self.sent_kinds),
            "rate_per_s": self.args.rate, "wall_s": round(wall, 1),
            "lost": len(lost), "duplicated": len(duplicated),
            "duplicated_in_flight_at_kill": len(at_kill) + len(refused_at_kill),
            "in_flight_at_kill_ms_before_kill": sorted(round((self.killed or 0) - u.answers[0], 4) * 1000
                                                       for u in at_kill),
            "inline_let_go_at_crash": len(let_go),
            "lost_by_kind": dict(Counter(u.kind for u in lost)),
            "duplicated_by_kind": dict(Counter(u.kind for u in duplicated)),
            "lost_examples": [example(u) for u in lost[:5]],
            "duplicated_examples": [example(u) for u in duplicated[:5]],
            "http_400": sum(bad.values()), "http_400_detail": dict(bad),
            "http_400_presses_in_flight_at_kill": len(refused_at_kill),
            "http_400_examples": [f"{c.method} {({k: v for k, v in c.params.items() if k != 'text'})}"[:300]
                                  for c in calls if c.status == 400][:5],
            "http_status": {str(k): v for k, v in sorted(statuses.items())},
            "faults_injected": dict(self.faults), "events": self.events,
            "apologies": self.tracker.apologies, "rate_limited_replies": self.tracker.rate_limited,
            "unmatched_answers": dict(self.tracker.unmatched),
            "latency_ms": {"p50": round(percentile(latency, 50), 1), "p99": round(percentile(latency, 99), 1),
                           "max": round(max(latency, default=float("nan")), 1)},
            "latency_ms_by_kind": {k: {"n": len(v), "p50": round(percentile(v, 50), 1),
                                       "p99": round(percentile(v, 99), 1)} for k, v in by_kind.items() if v},
            "bot_ready_s": [round(s, 1) for s in self.bot.ready_seconds],
            "peak_rss_mb": round(max(rss, default=0) / 2**20, 1),
            "loop_lag_ms": loop_lag(self.bot.lag_samples, began, last_answer),
            "token_in_bot_output": token_in_logs(self.bot.log_paths),
        }
        if self.args.faults:
            result["reload"] = {k: (round(v, 1) if isinstance(v, float) else v) for k, v in self.reload.items()
                                if k in ("before", "done", "probes", "exited", "after")}
        if self.args.soak:
            result["rss"] = soak_growth(sampler.samples, self.args.updates)
        return result


def example(update: Update) -> str:
    after = ", ".join(f"{(t - update.sent) * 1000:.0f}" for t in update.answers)
    return (f"update {update.update_id} ({update.kind} {update.text[:40]!r} in chat {update.chat}): "
            f"answered {len(update.answers)}x, at [{after}] ms")


def soak_growth(samples: list[tuple[float, int, int]], total: int) -> dict[str, Any]:
    """RSS after warm-up (the first 10% of updates) vs at the end, and the slope in between."""
    warm = [s for s in samples if s[1] >= total * 0.1]
    if len(warm) < 4:
        return {"samples": len(samples)}
    head = [s[2] for s in warm[:max(2, len(warm) // 10)]]
    tail = [s[2] for s in warm[-max(2, len(warm) // 10):]]
    xs, ys = [s[1] for s in warm], [s[2] / 2**20 for s in warm]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    spread = sum((x - mean_x) ** 2 for x in xs) or 1.0
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / spread
    curve = [(round(s[0]), s[1], round(s[2] / 2**20, 1)) for s in samples[:: max(1, len(samples) // 20)]]
    return {"samples": len(samples), "after_warmup_mb": round(statistics.median(head) / 2**20, 1),
            "at_end_mb": round(statistics.median(tail) / 2**20, 1),
            "growth_mb": round((statistics.median(tail) - statistics.median(head)) / 2**20, 1),
            "slope_mb_per_1000_updates": round(slope * 1000, 2),
            "curve_s_updates_mb": curve}


def token_in_logs(paths: list[Path]) -> bool:
    secret = TOKEN.split(":", 1)[1].encode()
    return any(secret in path.read_bytes() for path in paths if path.exists())


def print_report(result: dict[str, Any]) -> None:
    print()
    for key, value in result.items():
        if isinstance(value, dict) and value and key != "rss":
            print(f"{key}:")
            for name, item in value.items():
                print(f"    {name}: {item}")
        elif isinstance(value, list) and value and key in ("events", "lost_examples", "duplicated_examples",
                                                              "http_400_examples"):
            print(f"{key}:")
            for item in value:
                print(f"    {item}")
        elif key != "rss":
            print(f"{key}: {value}")
    if "rss" in result:
        print("rss (soak):")
        for name, item in result["rss"].items():
            print(f"    {name}: {item}")


def failures(result: dict[str, Any], faults: bool) -> list[str]:
    """What breaks the delivery contract: an update lost, or answered twice other than once in flight
    at the SIGKILL; a 400 other than a press answered again for that reason; the token in the logs."""
    problems = []
    if result["lost"]:
        problems.append(f"{result['lost']} update(s) never answered")
    beyond = result["duplicated"] - (result["duplicated_in_flight_at_kill"] - result["http_400_presses_in_flight_at_kill"])
    if beyond:
        problems.append(f"{beyond} update(s) answered more than once, not in flight at the SIGKILL")
    refused = result["http_400"] - result["http_400_presses_in_flight_at_kill"]
    if refused:
        problems.append(f"{refused} request(s) answered 400 by the API")
    if result["token_in_bot_output"]:
        problems.append("the bot's output contains the token")
    if faults and not result.get("reload", {}).get("done"):
        problems.append("the reload was not seen: the new article's question was never answered from it")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chats", type=int, default=200, help="private chats (users), default 200")
    parser.add_argument("--updates", type=int, default=2000, help="updates to send, default 2,000")
    parser.add_argument("--soak", type=int, metavar="N", help="soak run of N updates, RSS sampled over time")
    parser.add_argument("--faults", action="store_true",
                        help="inject API faults, SIGKILL and restart the bot, add an article and SIGHUP")
    parser.add_argument("--kill-moment", choices=("typing", "answer"), default="typing",
                        help="SIGKILL once the bot shows 'typing' for a burst of questions (default), or "
                             "right after its first answer to them (the send-to-mark window)")
    parser.add_argument("--fault-every", type=int, default=25, metavar="N", help="one fault per N updates")
    parser.add_argument("--rate", type=float, default=15, help="updates offered per second (0: as fast as "
                                                               "chats free up), default 15")
    parser.add_argument("--rate-limit", type=int, help="ARTICLEBOT_RATE_LIMIT for the bot (default: its own)")
    parser.add_argument("--corpus", type=Path, default=REPO / "corpus", help="corpus to copy (default corpus/)")
    parser.add_argument("--settle", type=float, default=60, help="seconds without a new answer before "
                                                                 "unanswered updates count as lost")
    parser.add_argument("--cache-dir", type=Path, help="index and compiled-search cache, kept between runs as a "
                                                       "deployed bot's (default: a fresh one, so the search is "
                                                       "compiled in the background during the run's first seconds)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (bot logs, state)")
    args = parser.parse_args(argv)
    if args.soak:
        args.updates = args.soak

    work = Path(tempfile.mkdtemp(prefix="articlebot-load-"))
    corpus = work / "corpus"
    shutil.copytree(args.corpus, corpus)
    with BotApiServer(token=TOKEN) as api:
        bot = BotProcess(api, work, corpus, args.rate_limit, args.cache_dir)
        print(f"starting the bot on a copy of {args.corpus} (work folder {work})", flush=True)
        bot.start()
        print(f"bot polling after {bot.ready_seconds[0]:.1f} s; sending {args.updates:,} updates from "
              f"{args.chats} chats at {args.rate:g}/s{' with faults' if args.faults else ''}", flush=True)
        load = Load(args, api, bot, corpus)
        sampler = Sampler(bot, load.progress, every=1.0 if args.soak else 0.25)
        sampler.start()
        began, began_at = time.monotonic(), time.time()
        try:
            load.run()
        finally:
            sampler.stopping.set()
            wall = time.monotonic() - began
            bot.stop()
        result = load.report(sampler, wall, began_at)
    print_report(result)
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if args.keep:
        print(f"work folder kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    problems = failures(result, args.faults)
    for problem in problems:
        print(f"FAIL: {problem}")
    print("OK" if not problems else "FAILED")
    return 1 if problems else 0


if __name__ == "__main__":
    if sys.argv[1:2] == [BOT_WITH_PROBE]:
        sys.exit(bot_with_lag_probe(Path(sys.argv[2]), sys.argv[3:]))
    sys.exit(main())
