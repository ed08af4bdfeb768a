"""The measured steps of bench.py; each runs in its own process so that its peak RSS is its own.

A step reads the run's config (``WORK/config.json``) and returns a JSON-able dict; bench.py
writes it to ``WORK/steps/<name>.json``. Token data shared by the engines lives in
``WORK/tokens``: every paragraph's tokens as ids into one vocabulary (``ids.npy`` with
``offsets.npy``), read back from articlebot's own index (each paragraph's bag of tokens:
BM25 ignores token order), and the questions' tokens from the same ``Tokenizer``.
"""

from __future__ import annotations

import cProfile
import gc
import io
import json
import math
import os
import pstats
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np
from benchlib import (
    Timer,
    children_peak_rss_mib,
    current_rss_mib,
    descendants_rss_mib,
    disk_bytes,
    latency_summary,
    peak_rss_mib,
    read_json,
    step,
    write_json,
)

K = 10
K1, B = 1.2, 0.75


# --- articlebot's own build and load ------------------------------------------------------

def settings(config: dict[str, Any]):  # type: ignore[no-untyped-def]
    from bot.config import Settings
    return Settings(corpus=(Path(config["corpus"]),), cache_dir=Path(config["cache_dir"]), workers=0,
                    k1=K1, b=B)


def cache_folder(config: dict[str, Any]) -> Path:
    """The library's own cache folder, keyed as ``Library.open`` keys it (with the corpus folders' sites)."""
    from bot.search.library import _cache_folder
    from bot.search.site import open_site
    from bot.search.tokens import Tokenizer
    chosen = settings(config)
    return _cache_folder(chosen, Tokenizer(), [open_site(folder, chosen.hugo_config) for folder in chosen.corpus])


def _open(config: dict[str, Any]):  # type: ignore[no-untyped-def]
    from bot.search.library import Library
    with Timer() as t:
        library = Library.open(settings(config))
    return library, t.seconds


class PhaseRSS:
    """Samples this process's RSS every 20 ms and books each sample to the phase running then.

    Phases are articlebot's own build functions, wrapped for the duration of one step (the
    benchmark only observes them): collecting the workers' parsed and tokenized files,
    sorting a block of token occurrences into postings, merging the blocks, saving.
    """

    def __init__(self, workers: bool = False) -> None:
        """``workers``: also sample the peak RSS of every process below this one (the build's workers)."""
        import threading
        self.workers = workers
        self.worker_peaks: dict[int, float] = {}
        self.phase = "start"
        self.peaks: dict[str, float] = {}
        self.seconds: dict[str, float] = {}
        self._since = time.perf_counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        ticks = 0
        while not self._stop.wait(0.02):
            rss = current_rss_mib()
            self.peaks[self.phase] = max(self.peaks.get(self.phase, 0.0), rss)
            ticks += 1
            if self.workers and ticks % 5 == 0:  # every 0.1 s: listing /proc costs a few ms
                for pid, used in descendants_rss_mib().items():
                    self.worker_peaks[pid] = max(self.worker_peaks.get(pid, 0.0), used)

    def enter(self, phase: str) -> None:
        now = time.perf_counter()
        self.seconds[self.phase] = self.seconds.get(self.phase, 0.0) + now - self._since
        self.peaks[phase] = max(self.peaks.get(phase, 0.0), current_rss_mib())
        self.phase, self._since = phase, now

    def wrap(self, owner: Any, name: str, phase: str, after: str, classmethod_: bool = False) -> None:
        """Replace ``owner.name`` (for this process only) with a version that marks the phase."""
        original = getattr(owner, name)
        func = original.__func__ if classmethod_ else original
        sampler = self

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            before = sampler.phase
            sampler.enter(phase)
            try:
                return func(*args, **kwargs)
            finally:
                sampler.enter(after or before)

        setattr(owner, name, classmethod(wrapper) if classmethod_ else wrapper)

    def __enter__(self) -> PhaseRSS:
        import bot.search.library
        from bot.search.boilerplate import Boilerplate
        from bot.search.index import BM25Index, IndexBuilder
        self.wrap(bot.search.library, "_update", "update: files parsed+tokenized (by workers on a cold build), ids mapped", "end")
        self.wrap(IndexBuilder, "_flush", "index: sort a block into postings", "")
        self.wrap(IndexBuilder, "finish", "index: merge blocks", "")
        self.wrap(BM25Index, "save", "save index", "")
        self.wrap(BM25Index, "load", "map index + score bounds", "", classmethod_=True)
        self.wrap(bot.search.library, "_collect_garbage", "drop old index and articles", "")
        self.wrap(bot.search.library, "_deleted_frequencies", "delta: old versions tokenized again", "")
        self.wrap(bot.search.library, "save_delta", "delta: save", "")
        self.wrap(Boilerplate, "found", "boilerplate: count every line", "", classmethod_=True)
        self.wrap(Boilerplate, "updated", "boilerplate: update the counts", "")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.enter("end")
        self._stop.set()
        self._thread.join()

    def report(self) -> dict[str, Any]:
        return {phase: {"peak_rss_mib": round(self.peaks.get(phase, 0.0)), "seconds": round(sec, 2)}
                for phase, sec in self.seconds.items()}


@step("cold")
def cold(config: dict[str, Any]) -> dict[str, Any]:
    """``Library.open`` with an empty cache: parse, tokenize (all cores), index, save."""
    shutil.rmtree(config["cache_dir"], ignore_errors=True)
    with PhaseRSS(workers=True) as phases:
        library, seconds = _open(config)
    assert library.rebuilt
    return {"seconds": seconds, "articles": len(library.articles), "paragraphs": library.paragraph_count,
            "skipped": len(library.report.skipped), "postings": int(len(library.index.doc_ids)),
            "vocabulary": len(library.index.vocabulary),
            "peak_rss_mib": peak_rss_mib(),
            "workers_peak_rss_mib": max(phases.worker_peaks.values(), default=children_peak_rss_mib()),
            "workers": os.cpu_count(), "phases": phases.report(), **cache_sizes(config)}


@step("update")
def update(config: dict[str, Any]) -> dict[str, Any]:
    """``Library.open`` after one file changed, then after it changed back: an incremental update
    (only that file is parsed and tokenized; every other file keeps its postings)."""
    from bot.search.articles import LoadReport, find_markdown_files
    files = find_markdown_files([Path(config["corpus"])], LoadReport())
    target = files[len(files) // 2]
    original = target.read_bytes()
    stat = target.stat()
    runs = []
    try:
        target.write_bytes(original + "\n\n基准测试追加的一段文字，用来检验增量更新。\n".encode())
        with PhaseRSS() as phases:
            library, seconds = _open(config)
        assert library.rebuilt
        runs.append({"change": "appended a paragraph", "seconds": seconds, "phases": phases.report()})
        del library
    finally:
        target.write_bytes(original)
        os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    library, seconds = _open(config)
    assert library.rebuilt
    runs.append({"change": "restored", "seconds": seconds})
    return {"runs": runs, "seconds": max(r["seconds"] for r in runs), "file": str(target),
            "paragraphs": library.paragraph_count, "peak_rss_mib": peak_rss_mib(), **cache_sizes(config)}


@step("rescore")
def rescore(config: dict[str, Any]) -> dict[str, Any]:
    """``Library.open`` with another k1/b on an unchanged corpus: score bounds recomputed, no re-index."""
    from bot.search.library import Library
    other = settings(config)
    from dataclasses import replace
    with Timer() as t:
        library = Library.open(replace(other, k1=other.k1 + 0.3))
    assert not library.rebuilt
    with Timer() as back:
        Library.open(other)
    return {"seconds": t.seconds, "back_seconds": back.seconds, "peak_rss_mib": peak_rss_mib()}


@step("warm")
def warm(config: dict[str, Any]) -> dict[str, Any]:
    """``Library.open`` on an unchanged corpus: what every start of articlebot pays."""
    import bot.cli  # noqa: F401 - what `articlebot ask` imports anyway, outside the timing
    library, seconds = _open(config)
    assert not library.rebuilt, "the cache was not reused"
    return {"seconds": seconds, "paragraphs": library.paragraph_count, "peak_rss_mib": peak_rss_mib()}


def cache_sizes(config: dict[str, Any]) -> dict[str, Any]:
    cache = Path(config["cache_dir"])
    folder = cache_folder(config)
    return {"cache_bytes": disk_bytes(cache), "articles_sqlite_bytes": disk_bytes(folder / "articles.sqlite"),
            "index_bytes": sum(disk_bytes(f) for f in [*folder.glob("index-*"), *folder.glob("delta-*")]),
            "manifest_bytes": disk_bytes(folder / "manifest.pkl")}


# --- shared tokens ------------------------------------------------------------------------

@step("export")
def export(config: dict[str, Any]) -> dict[str, Any]:
    """Every paragraph's tokens, exactly as articlebot indexed them, read back from its index.

    Each paragraph becomes its bag of tokens (term ids repeated tf times, in term order):
    BM25 ignores token order, so every engine indexes the same statistics.
    """
    from bot.search.tokens import Tokenizer
    with Timer() as t:
        library, _ = _open(config)
        index = _one_index(library.index)
        doc_ids = np.asarray(index.doc_ids)
        order = np.argsort(doc_ids, kind="stable")
        terms = np.repeat(np.arange(len(index.offsets) - 1, dtype=np.int32), np.diff(np.asarray(index.offsets)))
        tfs = np.asarray(index.tfs)[order].astype(np.int64)
        ids = np.repeat(terms[order], tfs)
        del terms, order
        lengths = np.bincount(doc_ids, weights=np.asarray(index.tfs), minlength=index.n_docs).astype(np.int64)
        assert np.array_equal(lengths, np.asarray(index.lengths)), "tf sums differ from paragraph lengths"
        chars = sum(len(p.text) for a in library.articles for p in a.paragraphs)
    out = Path(config["work"]) / "tokens"
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "ids.npy", ids.astype(np.int32))
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    np.save(out / "offsets.npy", offsets)
    terms = index.terms
    (out / "vocab.json").write_text(json.dumps(terms, ensure_ascii=False), encoding="utf-8")
    tokenizer = Tokenizer()
    questions = []
    for path in config["questions"]:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                questions.append({"id": record.get("id"), "set": Path(path).parent.name,
                                  "question": record["question"], "tokens": tokenizer(record["question"])})
    (out / "questions.json").write_text(json.dumps(questions, ensure_ascii=False), encoding="utf-8")
    return {"paragraphs": len(lengths), "tokens": len(ids), "vocabulary": len(terms), "chars": chars,
            "questions": len(questions), "read_cache_s": t.seconds, "peak_rss_mib": peak_rss_mib(),
            "tokens_per_paragraph": len(ids) / max(1, len(lengths))}


def _one_index(index: Any) -> Any:
    """A cache that an update left as a base with a delta, as the one index merging them makes
    (paragraphs numbered alike: the base's that stay, then the delta's)."""
    from bot.search.index import Segmented, merged
    return merged(index.base, index.deleted, index.delta, index.params) if isinstance(index, Segmented) else index


class Tokens:
    """The exported corpus tokens, turned into whatever form an engine takes."""

    def __init__(self, work: Path) -> None:
        folder = work / "tokens"
        self.ids = np.load(folder / "ids.npy")
        self.offsets = np.load(folder / "offsets.npy")
        self.terms: list[str] = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
        self.n_docs = len(self.offsets) - 1

    def _per_doc(self, table: np.ndarray) -> list[list[Any]]:
        mapped = table[self.ids]
        return [mapped[a:b].tolist() for a, b in zip(self.offsets[:-1].tolist(), self.offsets[1:].tolist())]

    def token_lists(self) -> list[list[str]]:
        """Lists of str (each distinct token one shared object)."""
        return self._per_doc(np.array(self.terms, dtype=object))

    def id_lists(self) -> list[list[int]]:
        return self._per_doc(np.array(list(range(len(self.terms))), dtype=object))

    def joined(self, ascii_ids: bool = False) -> list[str]:
        table = np.array([f"t{i}" for i in range(len(self.terms))] if ascii_ids else self.terms, dtype=object)
        mapped = table[self.ids]
        return [" ".join(mapped[a:b].tolist()) for a, b in zip(self.offsets[:-1].tolist(), self.offsets[1:].tolist())]


def questions(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The run's question sample (the same list, in the same order, for every engine)."""
    every = read_json(Path(config["work"]) / "tokens" / "questions.json")
    return [every[i] for i in config["sample_indices"]]


# --- builds ------------------------------------------------------------------------------

def index_dir(config: dict[str, Any], engine: str) -> Path:
    path = Path(config["work"]) / "indexes" / engine
    shutil.rmtree(path, ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _build_result(input_s: float, build_s: float, save_s: float, input_rss: float, disk: int,
                  **extra: Any) -> dict[str, Any]:
    gc.collect()
    return {"input_s": input_s, "build_s": build_s, "save_s": save_s, "build_total_s": build_s + save_s,
            "input_rss_mib": input_rss, "peak_rss_mib": peak_rss_mib(), "disk_bytes": disk, **extra}


@step("build_articlebot")
def build_articlebot(config: dict[str, Any]) -> dict[str, Any]:
    from bot.search.index import BM25Index, BM25Params
    with Timer() as ti:
        docs = Tokens(Path(config["work"])).token_lists()
    rss = current_rss_mib()
    with Timer() as tb:
        index = BM25Index.build(docs, BM25Params(K1, B))
    path = index_dir(config, "articlebot")
    with Timer() as ts:
        index.save(path)
    return _build_result(ti.seconds, tb.seconds, ts.seconds, rss, disk_bytes(path),
                         postings=int(len(index.doc_ids)))


@step("build_bm25s")
def build_bm25s(config: dict[str, Any]) -> dict[str, Any]:
    import bm25s
    with Timer() as ti:
        tokens = Tokens(Path(config["work"]))
        ids = tokens.id_lists()
        vocab = {term: i for i, term in enumerate(tokens.terms)}
        del tokens
    rss = current_rss_mib()
    with Timer() as tb:
        retriever = bm25s.BM25(k1=K1, b=B, method="lucene")  # articlebot's idf
        retriever.index((ids, vocab), show_progress=False)
    path = index_dir(config, "bm25s")
    with Timer() as ts:
        retriever.save(str(path))
    return _build_result(ti.seconds, tb.seconds, ts.seconds, rss, disk_bytes(path),
                         postings=int(len(retriever.scores["data"])))


@step("build_tantivy")
def build_tantivy(config: dict[str, Any]) -> dict[str, Any]:
    import tantivy
    with Timer() as ti:
        texts = Tokens(Path(config["work"])).joined()
    rss = current_rss_mib()
    path = index_dir(config, "tantivy")
    path.mkdir(parents=True)
    with Timer() as tb:
        schema = tantivy_schema()
        index = tantivy.Index(schema, path=str(path))
        writer = index.writer(config["tantivy_heap"], 1)
        for i, text in enumerate(texts):
            writer.add_document(tantivy.Document(body=text, pid=i))
        writer.commit()
        writer.wait_merging_threads()
    index.reload()
    return _build_result(ti.seconds, tb.seconds, 0.0, rss, disk_bytes(path),
                         segments=index.searcher().num_segments, docs=index.searcher().num_docs)


def tantivy_schema():  # type: ignore[no-untyped-def]
    import tantivy
    builder = tantivy.SchemaBuilder()
    # "whitespace": splits on whitespace only, no lower-casing, no length limit → the tokens as given.
    builder.add_text_field("body", stored=False, tokenizer_name="whitespace", index_option="freq")
    builder.add_integer_field("pid", stored=False, fast=True)
    return builder.build()


@step("build_fts5")
def build_fts5(config: dict[str, Any]) -> dict[str, Any]:
    with Timer() as ti:
        texts = Tokens(Path(config["work"])).joined(ascii_ids=True)
    rss = current_rss_mib()
    path = index_dir(config, "fts5")
    path.mkdir(parents=True)
    db_path = path / "fts5.sqlite"
    with Timer() as tb:
        db = sqlite3.connect(db_path)
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        # Tokens are stored as ASCII ids (t0, t1, …): unicode61 keeps [a-z0-9] runs whole, so each
        # articlebot token is exactly one FTS5 token (raw tokens would be split at - . + & ').
        db.execute("CREATE VIRTUAL TABLE fts USING fts5(body, content='', tokenize='unicode61')")
        with db:
            db.executemany("INSERT INTO fts(rowid, body) VALUES (?, ?)", enumerate(texts))
        with db:
            db.execute("INSERT INTO fts(fts) VALUES ('optimize')")
        db.close()
    return _build_result(ti.seconds, tb.seconds, 0.0, rss, disk_bytes(path))


# --- queries -----------------------------------------------------------------------------

def _timed_queries(run_one, items: list[list[str]], warmup: int) -> tuple[list[int], list[Any]]:  # type: ignore[no-untyped-def]
    """Warm up on the first queries, then time each query once (GC paused while timing)."""
    for tokens in items[:warmup]:
        run_one(tokens)
    gc.collect()
    gc.disable()
    ns: list[int] = []
    results: list[Any] = []
    try:
        for tokens in items:
            start = time.perf_counter_ns()
            result = run_one(tokens)
            ns.append(time.perf_counter_ns() - start)
            results.append(result)
    finally:
        gc.enable()
    return ns, results


def _serve_result(load_s: float, ns: list[int], hits: list[list[tuple[int, float]]], config: dict[str, Any],
                  engine: str, **extra: Any) -> dict[str, Any]:
    out = Path(config["work"]) / "hits" / f"{engine}.json"
    write_json(out, hits)
    return {"load_s": load_s, **latency_summary(ns), "peak_rss_mib": peak_rss_mib(), "hits_file": str(out),
            **extra}


@step("serve_articlebot")
def serve_articlebot(config: dict[str, Any]) -> dict[str, Any]:
    """articlebot as the bot serves: ``Library.open`` (warm cache), the compiled search loaded and the
    index warmed (its term dict), as ``articlebot telegram`` has them once it has started (it compiles
    in the background and warms the index, as its reloader does), then ``index.search(tokens, 10)``."""
    return _serve_articlebot(config, compiled=True)


@step("serve_articlebot_numpy")
def serve_articlebot_numpy(config: dict[str, Any]) -> dict[str, Any]:
    """numpy's exhaustive scorer: what one-shot commands (``articlebot ask``) and machines without numba use."""
    return _serve_articlebot(config, compiled=False)


def _serve_articlebot(config: dict[str, Any], compiled: bool) -> dict[str, Any]:
    from bot.search.compiled import CompiledSearch
    sample = [q["tokens"] for q in questions(config)]
    library, load_s = _open(config)
    assert not library.rebuilt
    index = library.index
    with Timer() as compiling:
        if compiled:
            index.scorer = CompiledSearch(Path(config["cache_dir"]))
            index.warm()

    def run_one(tokens: list[str]) -> list[tuple[int, float]]:
        return [(h.paragraph, h.score) for h in index.search(tokens, K)]

    ns, hits = _timed_queries(run_one, sample, config["warmup"])
    counts = [index.postings_read(tokens, K) for tokens in sample]
    total = [c[0] for c in counts]
    read = [c[1] for c in counts]
    per_posting = [n / p for n, p in zip(ns, read) if p]

    def spread(values: list[int]) -> dict[str, float]:
        return {"p50": float(np.median(values)), "p99": float(np.percentile(values, 99)),
                "mean": float(np.mean(values)), "max": int(max(values))}

    return _serve_result(load_s, ns, hits, config, "articlebot" if compiled else "articlebot_numpy",
                         compiled=compiled, compile_s=compiling.seconds,
                         postings_of_terms=spread(total), postings_touched=spread(read),
                         share_scanned=float(sum(read) / max(1, sum(total))),
                         ns_per_posting={"median": float(np.median(per_posting)),
                                         "aggregate": float(sum(ns) / max(1, sum(read))),
                                         # least squares ns = fixed + marginal × scanned: the cost
                                         # of one more posting, apart from the per-query overhead
                                         **dict(zip(("marginal", "fixed_ns"),
                                                    map(float, np.polyfit(read, ns, 1))))},
                         paragraphs=library.paragraph_count)


@step("serve_bm25s")
def serve_bm25s(config: dict[str, Any]) -> dict[str, Any]:
    import bm25s
    sample = [q["tokens"] for q in questions(config)]
    with Timer() as t:
        retriever = bm25s.BM25.load(str(Path(config["work"]) / "indexes" / "bm25s"), mmap=True)

    def run_one(tokens: list[str]) -> list[tuple[int, float]]:
        docs, scores = retriever.retrieve([tokens], k=K, show_progress=False, n_threads=0)
        return [(int(d), float(s)) for d, s in zip(docs[0], scores[0]) if s > 0]

    ns, hits = _timed_queries(run_one, sample, config["warmup"])
    return _serve_result(t.seconds, ns, hits, config, "bm25s", backend=retriever.backend)


@step("serve_bm25s_numba")
def serve_bm25s_numba(config: dict[str, Any]) -> dict[str, Any]:
    """bm25s's own numba backend on the same index: the peer for articlebot's compiled search."""
    import bm25s
    sample = [q["tokens"] for q in questions(config)]
    with Timer() as t:
        retriever = bm25s.BM25.load(str(Path(config["work"]) / "indexes" / "bm25s"), mmap=True)
        retriever.backend = "numba"
        ids = retriever.vocab_dict

    def run_one(tokens: list[str]) -> list[tuple[int, float]]:
        known = [ids[token] for token in tokens if token in ids]
        if not known:  # bm25s's numba path refuses an empty question
            return []
        docs, scores = retriever.retrieve([known], k=K, show_progress=False, n_threads=0)
        return [(int(d), float(s)) for d, s in zip(docs[0], scores[0]) if s > 0]

    with Timer() as compiling:
        run_one(sample[0])  # numba compiles bm25s's functions on first use; not part of a query
    ns, hits = _timed_queries(run_one, sample, config["warmup"])
    return _serve_result(t.seconds, ns, hits, config, "bm25s_numba", backend=retriever.backend,
                         compile_s=compiling.seconds)


@step("serve_tantivy")
def serve_tantivy(config: dict[str, Any]) -> dict[str, Any]:
    import tantivy
    sample = [q["tokens"] for q in questions(config)]
    with Timer() as t:
        index = tantivy.Index.open(str(Path(config["work"]) / "indexes" / "tantivy"))
        searcher = index.searcher()
        schema = index.schema
    should = tantivy.Occur.Should
    term_query = tantivy.Query.term_query
    boolean_query = tantivy.Query.boolean_query

    def run_one(tokens: list[str]) -> list[tuple[int, float]]:
        if not tokens:
            return []
        query = boolean_query([(should, term_query(schema, "body", token)) for token in tokens])
        found = searcher.search(query, K, count=False).hits
        pids = searcher.fast_field_values("pid", [address for _, address in found])
        return [(int(pid), float(score)) for (score, _), pid in zip(found, pids)]

    ns, hits = _timed_queries(run_one, sample, config["warmup"])
    return _serve_result(t.seconds, ns, hits, config, "tantivy", segments=searcher.num_segments)


@step("serve_fts5")
def serve_fts5(config: dict[str, Any]) -> dict[str, Any]:
    sample = [q["tokens"] for q in questions(config)]
    with Timer() as t:
        terms = read_json(Path(config["work"]) / "tokens" / "vocab.json")
        ids = {term: f"t{i}" for i, term in enumerate(terms)}
        del terms
        db = sqlite3.connect(Path(config["work"]) / "indexes" / "fts5" / "fts5.sqlite")
    sql = "SELECT rowid, -bm25(fts) FROM fts WHERE fts MATCH ? ORDER BY rank LIMIT 10"

    def run_one(tokens: list[str]) -> list[tuple[int, float]]:
        known = [ids[t] for t in tokens if t in ids]
        if not known:
            return []
        return db.execute(sql, (" OR ".join(known),)).fetchall()

    ns, hits = _timed_queries(run_one, sample, config["warmup"])
    return _serve_result(t.seconds, ns, hits, config, "fts5")


@step("rank_bm25")
def rank_bm25(config: dict[str, Any]) -> dict[str, Any]:
    """rank-bm25 the plain way, on the first questions of the sample; also the oracle scores
    of every engine's hits, for the ranking check."""
    from benchlib import ReferenceBM25
    work = Path(config["work"])
    with Timer() as ti:
        docs = Tokens(work).token_lists()
    rss = current_rss_mib()
    with Timer() as tb:
        bm25 = ReferenceBM25(docs, k1=K1, b=B)
    build_rss = peak_rss_mib()
    n = config["rank_bm25_sample"]
    sample = [q["tokens"] for q in questions(config)][:n]
    engines = {e: read_json(work / "hits" / f"{e}.json")[:n] for e in config["engines"]
               if e != "rank_bm25" and (work / "hits" / f"{e}.json").exists()}
    ns: list[int] = []
    oracle = []
    gc.collect()
    for i, tokens in enumerate(sample):
        start = time.perf_counter_ns()
        scores = bm25.get_scores(tokens)
        top = np.argsort(scores)[::-1][:K]
        ns.append(time.perf_counter_ns() - start)
        positive = int((scores > 0).sum())
        oracle.append({"top": [(int(d), float(scores[d])) for d in top if scores[d] > 0], "positive": positive,
                       "engine_scores": {e: [float(scores[d]) for d, _ in hits[i]] for e, hits in engines.items()}})
    write_json(work / "hits" / "rank_bm25_oracle.json", oracle)
    return {"input_s": ti.seconds, "build_s": tb.seconds, "save_s": 0.0, "build_total_s": tb.seconds,
            "input_rss_mib": rss, "build_peak_rss_mib": build_rss, "load_s": 0.0, **latency_summary(ns),
            "peak_rss_mib": peak_rss_mib(), "sample": len(sample), "disk_bytes": None}


# --- other measurements ------------------------------------------------------------------

@step("tokenize")
def tokenize(config: dict[str, Any]) -> dict[str, Any]:
    """Tokenizer throughput on one core, on the corpus's own paragraphs (first ~2M characters)."""
    from bot.search.library import paragraph_tokens
    from bot.search.tokens import Tokenizer
    library, _ = _open(config)
    articles = []
    chars = 0
    for article in library.articles:
        articles.append(article)
        chars += sum(len(p.text) for p in article.paragraphs)
        if chars >= config["tokenize_chars"]:
            break
    del library
    tokenizer = Tokenizer()
    with Timer() as init:
        tokenizer("预热 warm-up")
    with Timer() as t:
        tokens = sum(len(tokens) for a in articles for tokens in paragraph_tokens(tokenizer, a))
    texts = [p.text for a in articles for p in a.paragraphs]
    with Timer() as plain:
        for text in texts:
            tokenizer(text)
    with Timer() as norm:
        for text in texts:
            tokenizer.normalize(text)
    profile = _profile(lambda: [tokenizer(text) for text in texts[: len(texts) // 4]], config, "tokenize")
    from bot.search.articles import load_article, read_text
    with Timer() as parse:
        for article in articles:
            load_article(Path(article.path), read_text(Path(article.path), 5 * 2**20))
    return {"files": len(articles), "parse_s": parse.seconds, "parse_files_per_s": len(articles) / parse.seconds,
            "parse_chars_per_s": chars / parse.seconds,
            "paragraphs": len(texts), "chars": chars, "tokens": tokens, "init_s": init.seconds,
            "paragraph_tokens_s": t.seconds, "chars_per_s": chars / t.seconds,
            "text_only_chars_per_s": chars / plain.seconds, "normalize_chars_per_s": chars / norm.seconds,
            "profile": profile}


def _profile(fn, config: dict[str, Any], name: str, limit: int = 25) -> str:  # type: ignore[no-untyped-def]
    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    path = Path(config["work"]) / "profiles" / f"{name}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(limit)
    stats.sort_stats("cumulative").print_stats(limit)
    path.write_text(out.getvalue(), encoding="utf-8")
    return str(path)


@step("profile")
def profile(config: dict[str, Any]) -> dict[str, Any]:
    """cProfiles of the warm open, the search path, the whole answer path, and the index build."""
    from bot.errors import QuestionError
    from bot.search.answers import Answerer
    from bot.search.compiled import CompiledSearch
    from bot.search.index import BM25Index, BM25Params
    from bot.search.library import Library
    scorer = CompiledSearch(Path(config["cache_dir"]))  # profiles the search as the bot serves it
    box: dict[str, Any] = {}
    files = {"open": _profile(lambda: box.setdefault("library", Library.open(settings(config), scorer=scorer)), config,
                              "open_warm")}
    library = box["library"]
    sample = [q["tokens"] for q in questions(config)]
    for tokens in sample[:50]:
        library.index.search(tokens, K)
    files["search"] = _profile(lambda: [library.index.search(t, K) for t in sample], config, "search")
    variants = search_variants(library.index, sample, config)
    answerer = Answerer(library)
    texts = [q["question"] for q in questions(config)][: config["answer_sample"]]

    def answer_all() -> list[Any]:
        out = []
        for text in texts:
            try:
                out.append(answerer.answer(text))
            except QuestionError:
                pass
        return out

    answer_all()
    ns = []
    for text in texts:
        start = time.perf_counter_ns()
        try:
            answerer.answer(text)
        except QuestionError:
            pass
        ns.append(time.perf_counter_ns() - start)
    files["answer"] = _profile(answer_all, config, "answer")
    box.clear()  # the library (its mapped index) is released before the build is profiled
    library = answerer = None
    gc.collect()
    if config.get("profile_build", True):
        docs = Tokens(Path(config["work"])).token_lists()
        files["build"] = _profile(lambda: BM25Index.build(docs, BM25Params(K1, B)), config, "build")
    return {"files": files, "answer_latency": latency_summary(ns), "answer_sample": len(texts),
            "search_variants": variants}


def search_variants(index, sample: list[list[str]], config: dict[str, Any]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The same search over the same mapped files, with the arrays seen as plain ndarrays
    instead of np.memmap (whose Python-level __getitem__/__array_finalize__ run on every slice)."""
    from bot.search.index import BM25Index
    plain = BM25Index(index.terms, *(np.asarray(a).view(np.ndarray) for a in
                                            (index.offsets, index.doc_ids, index.tfs, index.lengths)),
                      index.params, np.asarray(index.bounds).view(np.ndarray))
    out = {}
    for name, candidate in (("as_loaded", index), ("ndarray_views", plain)):
        ns, hits = _timed_queries(lambda t, c=candidate: [(h.paragraph, h.score) for h in c.search(t, K)],
                                  sample, config["warmup"])
        out[name] = {**latency_summary(ns), "hits_hash": hash(json.dumps(hits))}
    out["same_hits"] = out["as_loaded"].pop("hits_hash") == out["ndarray_views"].pop("hits_hash")
    return out


@step("ask")
def ask(config: dict[str, Any]) -> dict[str, Any]:
    """Wall clock of ``articlebot ask "…"`` as a fresh process with a warm cache, and of its import."""
    import subprocess
    import sys
    exe = str(Path(sys.executable).with_name("articlebot"))
    question = config["ask_question"]
    command = [exe, "ask", "--corpus", config["corpus"], "--cache-dir", config["cache_dir"], question]
    # The benchmark's BM25 settings, so that the CLI scores as the benchmark does (other k1/b
    # would only make it recompute the score bounds on first open).
    env = {**os.environ, "ARTICLEBOT_BM25_K1": str(K1), "ARTICLEBOT_BM25_B": str(B)}
    runs = []
    folders = lambda: {p.name for p in Path(config["cache_dir"]).iterdir() if p.is_dir()}  # noqa: E731
    before = folders()
    for _ in range(config["ask_runs"]):
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        assert proc.stdout is not None
        output = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        runs.append({"seconds": seconds, "rc": proc.returncode, "peak_rss_mib": usage.ru_maxrss / 1024,
                     "output_head": output.decode("utf-8", "replace")[:300],
                     "new_cache_folder": sorted(folders() - before)})
    imports = []
    for _ in range(config["ask_runs"]):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import bot.cli"], check=True)
        imports.append(time.perf_counter() - start)
    prof = Path(config["work"]) / "profiles" / "ask.prof"
    prof.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "cProfile", "-o", str(prof), "-m", "bot", *command[1:]],
                   stdout=subprocess.DEVNULL, check=False, env=env)
    out = io.StringIO()
    pstats.Stats(str(prof), stream=out).sort_stats("cumulative").print_stats(30)
    (prof.with_suffix(".txt")).write_text(out.getvalue(), encoding="utf-8")
    seconds = sorted(r["seconds"] for r in runs)
    return {"runs": runs, "median_s": seconds[len(seconds) // 2], "min_s": seconds[0],
            "import_median_s": sorted(imports)[len(imports) // 2], "profile": str(prof.with_suffix(".txt"))}


def overlap(config: dict[str, Any]) -> dict[str, Any]:
    """overlap@10 of each engine with plain rank-bm25 on rank-bm25's question sample.

    strict: shared paragraph ids / rank-bm25's top-10 (positive scores).
    ties: an engine's hit counts when rank-bm25 scores it at least as high as its own 10th
    best (minus a tolerance), so that equal-score paragraphs (copies in a replicated corpus)
    are interchangeable; for articlebot its score must also equal rank-bm25's.
    """
    work = Path(config["work"])
    path = work / "hits" / "rank_bm25_oracle.json"
    if not path.exists():
        return {}
    oracle = read_json(path)
    report: dict[str, Any] = {}
    for engine in config["engines"]:
        if engine == "rank_bm25" or not oracle or engine not in oracle[0]["engine_scores"]:
            continue
        hits = read_json(work / "hits" / f"{engine}.json")[: len(oracle)]
        strict, ties, exact_scores, worst = [], [], [], 0.0
        for record, found in zip(oracle, hits):
            top = record["top"]
            want = min(K, record["positive"])
            if want == 0:
                continue
            tenth = top[want - 1][1]
            top_ids = {d for d, _ in top}
            rb = record["engine_scores"][engine]
            strict.append(len(top_ids & {d for d, _ in found}) / want)
            agree = 0
            for (doc, score), oracle_score in zip(found, rb):
                tol = 1e-4 + 1e-5 * abs(oracle_score)
                same = abs(score - oracle_score) <= tol if engine == "articlebot" else True
                if engine == "articlebot":
                    worst = max(worst, abs(score - oracle_score))
                if same and oracle_score >= tenth - tol:
                    agree += 1
            ties.append(min(agree, want) / want)
            if engine == "articlebot":
                mine = sorted((s for _, s in found), reverse=True)
                theirs = [s for _, s in top]
                exact_scores.append(len(mine) == len(theirs) and all(
                    abs(a - b) <= 1e-4 + 1e-5 * abs(b) for a, b in zip(mine, theirs)))
        entry = {"questions": len(strict), "strict": float(np.mean(strict)) if strict else math.nan,
                 "ties": float(np.mean(ties)) if ties else math.nan,
                 "questions_below_1": int(sum(1 for x in ties if x < 1))}
        if engine == "articlebot":
            entry["top10_scores_equal"] = float(np.mean(exact_scores)) if exact_scores else math.nan
            entry["max_abs_score_diff"] = worst
        report[engine] = entry
    return report
