"""A broadcast to many followers: how long it takes, how fast it goes, and what it does to answers.

The real bot (``python -m bot telegram``, a subprocess) runs against the Bot API stand-in
(``tests/support/botapi.py``) on a copy of the corpus. ``--followers`` chats follow #iyiou (written into
the state file before the start, as if each had sent /follow: 10,000 /follow round trips would only
time the stand-in), a new #iyiou article is written into the corpus and the bot gets SIGHUP; the run
ends when every follower has it. Meanwhile readers ask questions at ``--question-rate`` a second, and
the same questions are asked for ``--baseline`` seconds before the article, so the two latencies
compare like with like.

    .venv/bin/python benchmarks/broadcast.py                          # 10,000 followers at the default pace
    .venv/bin/python benchmarks/broadcast.py --pace 1000 --no-flood-control   # the bot's own ceiling

With a pace of 30 or less the stand-in plays Telegram's flood control (429 past 30 messages in a
second), so a 429 means the bot's pacing failed. Exit status 1 when a follower got nothing, got the
article twice, or a question went unanswered.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from support.botapi import BotApiServer  # noqa: E402
from support.bots import BotProcess  # noqa: E402

from bot.telegram.state import State  # noqa: E402

TOKEN = "123456:ABC-def_ghi-broadcast-bench"
BOT_ID = 123456
TITLE = "白尾雀鲷的珊瑚礁生活"
ARTICLE = f"""---
title: "{TITLE}"
date: 2025-03-01
tags: [iyiou]
---

白尾雀鲷是一种生活在珊瑚礁附近的小型海鱼，身体呈深褐色，尾鳍却是醒目的白色，潜水者很容易认出它。

它们通常成群栖息在枝状珊瑚之间，受到惊吓时会迅速躲进珊瑚的缝隙里，等危险过去才重新游出来觅食。

研究人员发现，海水升温导致的珊瑚白化会让这种鱼失去藏身之处，种群数量在一些海域明显下降。

[iyiou](https://www.iyiou.com/news/20250301fish)
"""
QUESTIONS = ("DeepSeek V3 的训练成本是多少？", "英伟达股价", "Bitcoin price this week", "美股 道指 升幅",
             "OpenAI o1 API 价格")
ASKERS = range(1, 51)
FOLLOWERS_FROM = 1_000_001


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Asker(threading.Thread):
    """Asks a question every 1/rate seconds (open loop: answers are not waited for), in turn from 50 chats."""

    def __init__(self, api: BotApiServer, rate: float) -> None:
        super().__init__(daemon=True)
        self.api, self.rate = api, rate
        self.asked: list[tuple[int, int, float, str]] = []  # chat, message id, when, phase
        self.phase = "baseline"
        self.stop = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            chat = ASKERS[n % len(ASKERS)]
            sent = time.time()
            _, message = self.api.send_text(chat, QUESTIONS[n % len(QUESTIONS)])
            self.asked.append((chat, message["message_id"], sent, self.phase))
            n += 1
            self.stop.wait(max(0.0, 1 / self.rate - (time.time() - sent)))


def latencies(api: BotApiServer, asked: list[tuple[int, int, float, str]]) -> dict[str, list[float]]:
    answered: dict[tuple[int, int], float] = {}
    for call in api.calls_to("sendMessage"):
        reply_to = (call.params.get("reply_parameters") or {}).get("message_id")
        if call.ok and reply_to is not None:
            answered.setdefault((call.params["chat_id"], reply_to), call.time)
    found: dict[str, list[float]] = {"baseline": [], "broadcast": [], "unanswered": []}
    for chat, message_id, sent, phase in asked:
        when = answered.get((chat, message_id))
        if when is None:
            found["unanswered"].append(sent)
        else:
            found[phase].append((when - sent) * 1000)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--followers", type=int, default=10_000)
    parser.add_argument("--pace", type=float, default=25.0, help="ARTICLEBOT_BROADCAST_RATE (default: the default)")
    parser.add_argument("--question-rate", type=float, default=5.0, help="questions asked per second")
    parser.add_argument("--baseline", type=float, default=20.0, help="seconds of questions before the article")
    parser.add_argument("--no-flood-control", action="store_true", help="no 429 past 30 messages a second")
    parser.add_argument("--corpus", type=Path, default=REPO / "corpus")
    parser.add_argument("--cache-dir", type=Path, help="index and compiled-search cache kept between runs")
    parser.add_argument("--json", type=Path, metavar="FILE")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="articlebot-broadcast-"))
    shutil.copytree(args.corpus, work / "corpus")
    state = State(work / "state.sqlite")
    followers = range(FOLLOWERS_FROM, FOLLOWERS_FROM + args.followers)
    for chat in followers:
        state.follow(BOT_ID, chat, "iyiou", "iyiou", False, "en" if chat % 4 else "zh")
    state.close()
    env = {"ARTICLEBOT_BROADCAST_RATE": str(args.pace)}
    if args.cache_dir:
        env["ARTICLEBOT_CACHE_DIR"] = str(args.cache_dir)
    with BotApiServer(token=TOKEN) as api:
        with api.state.cond:
            for chat in followers:
                api.state.chat_for(chat, "private", api.state.user(chat))
        if args.pace <= 30 and not args.no_flood_control:
            api.flood_control(30)
        bot = BotProcess(api, work, TOKEN, **env).start()
        try:
            api.send_text(ASKERS[0], "/start")
            api.wait_for("sendMessage", timeout=180)
            asker = Asker(api, args.question_rate)
            asker.start()
            time.sleep(args.baseline)
            (work / "corpus" / "fish.md").write_text(ARTICLE, encoding="utf-8")
            asker.phase = "broadcast"
            began = time.time()
            assert bot.process is not None
            bot.process.send_signal(signal.SIGHUP)
            reached: Counter[int] = Counter()
            seen = 0
            deadline = began + args.followers / min(args.pace, 1000) * 3 + 120
            while len(reached) < args.followers and time.time() < deadline:
                time.sleep(0.5)
                with api.state.cond:
                    new, seen = api.state.calls[seen:], len(api.state.calls)
                for call in new:
                    if call.method == "sendMessage" and call.ok and call.params["chat_id"] >= FOLLOWERS_FROM:
                        reached[call.params["chat_id"]] += 1
            asker.stop.set()
            asker.join()
            time.sleep(2)
        finally:
            bot.stop()
        sends = sorted(c.time for c in api.calls_to("sendMessage")
                       if c.ok and c.params["chat_id"] >= FOLLOWERS_FROM)
        first, last = sends[0], sends[-1]
        per_second = Counter(int(t - first) for t in sends)
        floods = sum(1 for c in api.calls if c.status == 429)
        lat = latencies(api, asker.asked)
    result: dict[str, Any] = {
        "followers": args.followers, "pace": args.pace, "question_rate": args.question_rate,
        "reached": len(reached), "duplicates": sum(n - 1 for n in reached.values() if n > 1),
        "seconds_from_sighup_to_last": round(last - began, 1), "seconds_first_to_last": round(last - first, 1),
        "messages_per_second": round((len(sends) - 1) / (last - first), 1) if len(sends) > 1 else None,
        "busiest_second": max(per_second.values()), "flood_429s": floods,
        "baseline": {"questions": len(lat["baseline"]), "p50_ms": round(percentile(lat["baseline"], 0.5), 1),
                     "p99_ms": round(percentile(lat["baseline"], 0.99), 1)},
        "during_broadcast": {"questions": len(lat["broadcast"]),
                             "p50_ms": round(percentile(lat["broadcast"], 0.5), 1),
                             "p99_ms": round(percentile(lat["broadcast"], 0.99), 1),
                             "max_ms": round(max(lat["broadcast"], default=float("nan")), 1),
                             "mean_ms": round(statistics.fmean(lat["broadcast"]), 1) if lat["broadcast"] else None},
        "unanswered_questions": len(lat["unanswered"]),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(work, ignore_errors=True)
    ok = result["reached"] == args.followers and not result["duplicates"] and not result["unanswered_questions"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
