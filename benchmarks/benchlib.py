"""Shared helpers for bench.py: the step registry, RSS, disk sizes, timing summaries."""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STEPS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}


def step(name: str) -> Callable[[Callable[[dict[str, Any]], dict[str, Any]]], Callable[[dict[str, Any]], dict[str, Any]]]:
    def register(fn: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[dict[str, Any]], dict[str, Any]]:
        STEPS[name] = fn
        return fn
    return register


def ReferenceBM25(docs: list[list[str]], k1: float, b: float) -> Any:
    """rank-bm25's BM25Okapi with articlebot's (Lucene's) idf: the oracle the engines' scores are checked against."""
    import math

    from rank_bm25 import BM25Okapi

    class LuceneIdf(BM25Okapi):
        def _calc_idf(self, nd: dict[str, int]) -> None:
            self.idf = {w: math.log1p((self.corpus_size - f + 0.5) / (f + 0.5)) for w, f in nd.items()}

    return LuceneIdf(docs, k1=k1, b=b)


def peak_rss_mib() -> float:
    """This process's peak resident set size so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def children_peak_rss_mib() -> float:
    """The largest peak RSS among this process's reaped children (e.g. tokenizing workers)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def descendants_rss_mib() -> dict[int, float]:
    """RSS of every process below this one, by pid: the build's workers are children of the pool's fork
    server, not of this process, so ``RUSAGE_CHILDREN`` never sees them; sampling /proc does."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parents[int(entry)] = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    below, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - below
        below |= frontier
    found: dict[int, float] = {}
    for pid in below:
        try:
            with open(f"/proc/{pid}/statm") as handle:
                found[pid] = int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        except (OSError, IndexError, ValueError):
            continue
    return found


def current_rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def disk_bytes(path: Path) -> int:
    """Apparent size of a file or of everything under a folder."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += (Path(folder) / name).stat().st_size
            except OSError:
                pass
    return total


def latency_summary(ns: list[int]) -> dict[str, float]:
    """p50/p90/p99/mean/max in milliseconds (p99 by the nearest-rank method)."""
    if not ns:
        return {}
    ms = sorted(n / 1e6 for n in ns)

    def pct(p: float) -> float:
        return ms[min(len(ms) - 1, max(0, int(round(p / 100 * len(ms) + 0.5)) - 1))]

    return {"n": len(ms), "p50_ms": statistics.median(ms), "p90_ms": pct(90), "p99_ms": pct(99),
            "mean_ms": statistics.fmean(ms), "max_ms": ms[-1], "total_s": sum(ms) / 1e3}


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


class Timer:
    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
