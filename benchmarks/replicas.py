"""Several replicas, one bot: webhook replicas over one PostgreSQL state, one of them SIGKILLed mid-run.

    .venv/bin/python benchmarks/replicas.py                       # 3 replicas, 2,000 updates
    .venv/bin/python benchmarks/replicas.py --replicas 2 --updates 500

What runs, all on loopback: a real PostgreSQL (``tests/support/postgres.py``: initdb in a temporary
folder), the Bot API stand-in (``tests/support/botapi.py``), ``--replicas`` processes of
``articlebot telegram --webhook`` sharing the state (``ARTICLEBOT_STATE_URL``), the index cache and the
webhook secret, and a small round-robin forwarder in front of them, as a load balancer: it passes each
POST to the next replica and answers 502 when that replica does not answer (no retry of its own).

"Telegram" posts ``--updates`` questions from 200 chats, offered at ``--rate`` per second (0: as
fast as ``--concurrency`` POSTs in flight allow), to the forwarder. As Telegram does, a POST that fails (502, a dropped connection, a timeout) is posted again
after a pause, and a share of updates (``--redeliver``) is posted a second time even after a 200, as
when Telegram's view of the 200 is lost. Halfway, one replica is SIGKILLed. Then the script waits
until every update is answered (the killed replica's claims expire after 30 s and a live replica's
sweep answers them).

Counted: lost updates (never answered), duplicates (answered twice, with how long before the kill each
one's first answer went out), and the updates the killed replica had claimed and not answered at the
kill (read from the database then: only an answer of theirs in flight at that instant may go twice), every HTTP 400 the API returned, latency p50/p99 and the time to
recover the killed replica's updates. Exits 1 if any update was lost, a duplicate is not among those in
flight at the kill, or any 400 occurred.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.botapi import BotApiServer  # noqa: E402 - tests/ is on the path only from here
from support.postgres import PostgresServer, find_binaries, raw_rows  # noqa: E402

TOKEN = "123456:ABC-replica-load-token-not-real"
SECRET = "replica-load-secret_0123456789"
PUBLIC_URL = "https://bot.example.org/telegram"
QUESTIONS = ["DeepSeek V3 的训练成本是多少？", "英偉達股價", "Bitcoin price this week", "英伟达股价下跌了多少？",
             "特朗普 关税", "美联储 降息", "GPT-4o 自拍", "半导体", "苹果 发布会", "道指升了多少点？",
             "DeepSeek R1 的 API 价格", "how to bake a chocolate cake", "Why Comcast lacks a moat", "金龍指數"]
FIRST_CHAT = 20_000
CHATS = 200


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Forwarder(ThreadingHTTPServer):
    """Round-robin over the replicas' ports; 502 when the chosen one does not answer."""

    daemon_threads = True

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.turn = 0
        self.lock = threading.Lock()
        self.failed = 0
        super().__init__(("127.0.0.1", 0), _Forward)

    def next_port(self) -> int:
        with self.lock:
            self.turn += 1
            return self.ports[self.turn % len(self.ports)]


class _Forward(BaseHTTPRequestHandler):
    server: Forwarder

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        port = self.server.next_port()
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("POST", self.path, body, {k: v for k, v in self.headers.items()
                                                         if k.lower() != "host"})
            response = connection.getresponse()
            status, payload = response.status, response.read()
            connection.close()
        except OSError:
            with self.server.lock:
                self.server.failed += 1
            status, payload = 502, b"502 Bad Gateway\n"
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def post(port: int, body: bytes) -> int:
    """One POST as Telegram makes it; the status, or 0 when the connection failed or timed out."""
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        connection.request("POST", "/telegram", body, {"Content-Type": "application/json",
                                                       "X-Telegram-Bot-Api-Secret-Token": SECRET})
        status = connection.getresponse().status
        connection.close()
        return status
    except OSError:
        return 0


def start_replica(root: Path, api: BotApiServer, url: str, port: int, n: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARTICLEBOT_", "TELEGRAM_"))}
    env.update({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": api.base_url,
                "TELEGRAM_WEBHOOK_SECRET": SECRET, "ARTICLEBOT_STATE_URL": url,
                "ARTICLEBOT_CORPUS": str(root / "corpus"), "ARTICLEBOT_CACHE_DIR": str(root / "cache"),
                "ARTICLEBOT_WORKERS": "1", "ARTICLEBOT_RATE_LIMIT": "100000", "ARTICLEBOT_WATCH": "0",
                "ARTICLEBOT_FOLLOWING": "0", "PYTHONPATH": str(REPO)})
    log = (root / f"replica-{n}.log").open("wb")
    return subprocess.Popen([sys.executable, "-m", "bot", "telegram", "--webhook", PUBLIC_URL, "--port", str(port)],
                            cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def wait_healthy(port: int, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"replica on port {port} not healthy after {timeout:.0f} s")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def run(replicas: int, updates: int, concurrency: int, redeliver: float, seed: int, rate: float) -> dict[str, Any]:
    random.seed(seed)
    binaries = find_binaries()
    if binaries is None:
        raise SystemExit("PostgreSQL binaries not found (Debian: apt-get install -y postgresql)")
    root = Path(tempfile.mkdtemp(prefix="articlebot-replicas-"))
    shutil.copytree(REPO / "corpus", root / "corpus")
    server = PostgresServer(binaries).start()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        url = server.fresh_database()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ARTICLEBOT_", "TELEGRAM_"))}
        env.update({"ARTICLEBOT_CORPUS": str(root / "corpus"), "ARTICLEBOT_CACHE_DIR": str(root / "cache"),
                    "PYTHONPATH": str(REPO)})
        subprocess.run([sys.executable, "-m", "bot", "index"], cwd=root, env=env, check=True,
                       stdout=subprocess.DEVNULL)  # the shared cache, built once before the replicas open it
        with BotApiServer(token=TOKEN) as api:
            ports = [free_port() for _ in range(replicas)]
            for n, port in enumerate(ports):
                processes.append(start_replica(root, api, url, port, n))
            for port in ports:
                wait_healthy(port)
            forwarder = Forwarder(ports)
            threading.Thread(target=forwarder.serve_forever, daemon=True).start()
            front = int(forwarder.server_address[1])

            bodies: list[tuple[int, int, bytes]] = []  # (update_id, message_id, body)
            for n in range(updates):
                chat = FIRST_CHAT + n % CHATS
                update_id, message = api.send_text(chat, random.choice(QUESTIONS))
                bodies.append((update_id, message["message_id"],
                               json.dumps({"update_id": update_id, "message": message}, ensure_ascii=False).encode()))
            posted_at: dict[int, float] = {}
            statuses: dict[int, int] = {}
            sent = threading.Semaphore(0)
            kill_after = updates // 2
            killed: dict[str, Any] = {}

            def deliver(numbered: tuple[int, tuple[int, int, bytes]]) -> None:
                index, (update_id, _message_id, body) = numbered
                if rate > 0:
                    time.sleep(max(0.0, started + index / rate - time.monotonic()))
                posted_at[update_id] = time.time()
                delay = 0.5
                for _attempt in range(12):
                    status = post(front, body)
                    statuses[update_id] = status
                    if status == 200:
                        break
                    time.sleep(delay)
                    delay = min(delay * 2, 8)
                if random.random() < redeliver:  # Telegram did not see the 200: it posts the update again
                    post(front, body)
                sent.release()

            def killer() -> None:
                for _ in range(kill_after):
                    sent.acquire()
                victim = processes[0]
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                killed["at"] = time.time()
                killed["pid"] = victim.pid
                [(count,)] = raw_rows(url, "SELECT count(*) FROM updates WHERE handled IS NULL "
                                           f"AND owner LIKE '%:{victim.pid}:%'")
                killed["in_flight"] = int(count)
                killed["in_flight_ids"] = [int(r[0]) for r in raw_rows(
                    url, f"SELECT update_id FROM updates WHERE handled IS NULL AND owner LIKE '%:{victim.pid}:%'")]

            started = time.monotonic()
            kill_thread = threading.Thread(target=killer)
            kill_thread.start()
            with ThreadPoolExecutor(concurrency) as pool:
                list(pool.map(deliver, enumerate(bodies)))
            kill_thread.join()
            posting_done = time.monotonic()

            by_message = {(FIRST_CHAT + n % CHATS, message_id): update_id
                          for n, (update_id, message_id, _) in enumerate(bodies)}

            def answers() -> dict[int, list[float]]:
                found: dict[int, list[float]] = {}
                for call in api.calls_to("sendMessage"):
                    if not call.ok:
                        continue
                    reply = call.params.get("reply_parameters") or {}
                    update_id = by_message.get((call.result["chat"]["id"], reply.get("message_id")))
                    if update_id is not None:
                        found.setdefault(update_id, []).append(call.time)
                return found

            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and len(answers()) < updates:
                time.sleep(1)
            time.sleep(3)  # duplicates arriving late are counted too
            answered = answers()
            lost = [u for u, _m, _b in bodies if u not in answered]
            duplicates = sorted(u for u, times in answered.items() if len(times) > 1)
            allowed = set(killed.get("in_flight_ids", []))
            latencies = [1000 * (min(times) - posted_at[u]) for u, times in answered.items() if u in posted_at]
            after_kill = [min(t) for u, t in answered.items() if u in allowed]
            bad = [(c.method, c.response) for c in api.calls if c.status == 400]
            return {
                "replicas": replicas, "updates": updates, "rate": rate, "concurrency": concurrency,
                "redeliver_share": redeliver,
                "answered": len(answered), "lost": len(lost), "duplicates": len(duplicates),
                "duplicates_not_in_flight_at_kill": len([u for u in duplicates if u not in allowed]),
                "in_flight_at_kill": killed.get("in_flight", 0),
                "duplicates_first_answer_before_kill_ms": [round(1000 * (killed["at"] - min(answered[u])), 1)
                                                           for u in duplicates if "at" in killed],
                "http_400": len(bad), "forwarder_502": forwarder.failed,
                "posting_s": round(posting_done - started, 1),
                "recovery_s": round(max(after_kill) - killed["at"], 1) if after_kill and "at" in killed else 0.0,
                "latency_p50_ms": round(percentile(latencies, 0.5), 1),
                "latency_p99_ms": round(percentile(latencies, 0.99), 1),
            }
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=15.0, help="updates offered per second (0: no pacing)")
    parser.add_argument("--concurrency", type=int, default=20, help="POSTs in flight at once (Telegram: up to 40)")
    parser.add_argument("--redeliver", type=float, default=0.05, help="share of updates posted again after a 200")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    result = run(args.replicas, args.updates, args.concurrency, args.redeliver, args.seed, args.rate)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    ok = not result["lost"] and not result["duplicates_not_in_flight_at_kill"] and not result["http_400"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
