"""articlebot's search against rank-bm25, bm25s, tantivy and SQLite FTS5, on identical tokens.

    python benchmarks/bench.py --corpus corpus-100k \\
        --questions eval/cmrc2018-trial/questions.jsonl \\
        --questions eval/drcd-test/questions.jsonl \\
        --questions eval/news-questions/questions.jsonl --work bench-100k

Every engine indexes the same token lists: articlebot builds its library first (its per-file
cache then holds every paragraph's tokens, which are exported once) and the questions are
tokenized with the same ``Tokenizer``. Each step runs in its own process (peak RSS is per
step) with numpy/BLAS pinned to one thread; queries are timed one at a time, warm, top-10.
Results go to ``WORK/results.json`` (and ``--out``), a table to stdout.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import ROOT, STEPS, log, read_json, write_json  # noqa: E402

ENGINES = ("articlebot", "bm25s", "bm25s_numba", "tantivy", "fts5", "rank_bm25")
BUILT_BY = {"bm25s_numba": "bm25s"}
"""Engines that serve another engine's index."""
BEFORE = {100_000: {"cold_s": 29.7, "update_s": 1.4, "ask_s": 1.08},
          1_000_000: {"cold_s": 698.0, "update_s": 6.1, "ask_s": 1.89}}
"""The index pipeline's figures before rjieba and the per-file build path (same machine, same corpora)."""
GOALS = {100_000: {"cold_s": 8.0, "update_s": 0.5, "ask_s": 0.6, "cold_rss_mib": 2048, "update_rss_mib": 2048},
         1_000_000: {"cold_s": 90.0, "update_s": 1.0, "ask_s": 1.0, "cold_rss_mib": 2048, "update_rss_mib": 1024}}
"""The pipeline's targets by corpus size (paragraphs, rounded to the nearer of the two)."""
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "NUMEXPR_NUM_THREADS": "1", "RAYON_NUM_THREADS": "1", "PYTHONHASHSEED": "0",
              "TOKENIZERS_PARALLELISM": "false"}


def run_step(name: str, work: Path, timeout: float, env_extra: dict[str, str] | None = None) -> dict[str, Any]:
    """Run one step in a fresh process (own session, so a timeout can stop its workers too)."""
    env = {**os.environ, **ONE_THREAD, **(env_extra or {})}
    log(f"step {name} …")
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--step", name, "--work", str(work)],
                            env=env, start_new_session=True)
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        rc = None
    wall = time.perf_counter() - started
    path = work / "steps" / f"{name}.json"
    if rc == 0 and path.exists():
        result = read_json(path)
        result["wall_s"] = wall
        log(f"step {name} done in {wall:.1f} s")
        return result
    reason = f"timed out after {timeout:.0f} s" if rc is None else f"exit status {rc}"
    log(f"step {name} FAILED: {reason}")
    return {"error": reason, "wall_s": wall}


def step_main(name: str, work: Path) -> int:
    import steps  # noqa: F401 - registers the steps
    config = read_json(work / "config.json")
    result = STEPS[name](config)
    write_json(work / "steps" / f"{name}.json", result)
    return 0


def corpus_bytes(corpus: Path) -> tuple[int, int]:
    total = files = 0
    for folder, _, names in os.walk(corpus):
        for name in names:
            if name.endswith(".md") and name.lower() != "readme.md":
                total += (Path(folder) / name).stat().st_size
                files += 1
    return total, files


def machine() -> dict[str, Any]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    mem = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), 0)
    versions = {}
    for package in ("numpy", "numba", "rank_bm25", "bm25s", "tantivy", "jieba", "psutil"):
        try:
            from importlib.metadata import version
            versions[package] = version(package.replace("_", "-"))
        except Exception:  # noqa: BLE001
            versions[package] = None
    import sqlite3
    versions["sqlite"] = sqlite3.sqlite_version
    bot_files = sorted((ROOT / "bot").glob("*.py"))
    digest = hashlib.sha1(b"".join(p.read_bytes() for p in bot_files)).hexdigest()[:12]
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    return {"cpus": os.cpu_count(), "cpu_model": model, "mem_gib": round(mem / 2**20, 1),
            "python": platform.python_version(), "versions": versions, "git_head": head,
            "bot_sources_sha1": digest, "started": time.strftime("%Y-%m-%d %H:%M:%S")}


def median_round(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One engine's serve rounds as one result: the last round's details, with p50 and p99 the
    medians over the rounds (each round's figures kept under ``rounds``)."""
    ok = [r for r in rounds if "p50_ms" in r]
    if not ok:
        return rounds[-1]
    result = dict(ok[-1])
    for key in ("p50_ms", "p99_ms", "mean_ms"):
        values = sorted(r[key] for r in ok)
        result[key] = values[len(values) // 2]
    result["peak_rss_mib"] = max(r["peak_rss_mib"] for r in ok)
    result["rounds"] = [{key: r.get(key) for key in ("p50_ms", "p99_ms", "mean_ms", "peak_rss_mib")} for r in ok]
    return result


def ratio(value: Any, base: Any) -> float | None:
    if not isinstance(value, (int, float)) or not isinstance(base, (int, float)) or not base:
        return None
    return value / base


def engine_rows(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    steps = results["steps"]
    rows: dict[str, dict[str, Any]] = {}
    for engine in results["config"]["engines"]:
        build = steps.get("rank_bm25" if engine == "rank_bm25" else f"build_{BUILT_BY.get(engine, engine)}", {})
        serve = steps.get("rank_bm25" if engine == "rank_bm25" else f"serve_{engine}", {})
        rows[engine] = {
            "build_s": build.get("build_total_s"), "query_p50_ms": serve.get("p50_ms"),
            "query_p99_ms": serve.get("p99_ms"), "query_mean_ms": serve.get("mean_ms"),
            "queries": serve.get("n"),
            "build_peak_rss_mib": build.get("build_peak_rss_mib", build.get("peak_rss_mib")),
            "build_input_rss_mib": build.get("input_rss_mib"),
            "serve_peak_rss_mib": serve.get("peak_rss_mib"), "load_s": serve.get("load_s"),
            "disk_bytes": build.get("disk_bytes"),
            "overlap_strict": results["overlap"].get(engine, {}).get("strict"),
            "overlap_ties": results["overlap"].get(engine, {}).get("ties"),
            "error": build.get("error") or serve.get("error"),
        }
    base = rows.get("articlebot", {})
    for row in rows.values():
        row["ratio"] = {key: ratio(row[key], base.get(key)) for key in
                        ("build_s", "query_p50_ms", "query_p99_ms", "query_mean_ms", "build_peak_rss_mib",
                         "serve_peak_rss_mib", "disk_bytes")}
    return rows


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows = results["engines"]
    steps = results["steps"]
    ab = rows.get("articlebot", {})
    out: list[dict[str, Any]] = []

    def add(name: str, ok: bool | None, detail: str) -> None:
        out.append({"target": name, "holds": ok, "detail": detail})

    for other in ("bm25s", "bm25s_numba", "tantivy"):
        if other in rows and ab.get("query_p50_ms") and rows[other].get("query_p50_ms"):
            o = rows[other]
            add(f"query p50/p99 ≤ {other}",
                ab["query_p50_ms"] <= o["query_p50_ms"] and ab["query_p99_ms"] <= o["query_p99_ms"],
                f"articlebot {ab['query_p50_ms']:.3f}/{ab['query_p99_ms']:.3f} ms vs {other} "
                f"{o['query_p50_ms']:.3f}/{o['query_p99_ms']:.3f} ms")
    rb = rows.get("rank_bm25", {})
    if rb.get("query_p50_ms") and ab.get("query_p50_ms"):
        speedup = rb["query_p50_ms"] / ab["query_p50_ms"]
        mean_speedup = rb["query_mean_ms"] / ab["query_mean_ms"]
        add("≥ 300× faster than rank-bm25", speedup >= 300,
            f"p50 {speedup:.0f}×, mean {mean_speedup:.0f}× (rank-bm25 on {rb['queries']} questions)")
    ov = results["overlap"].get("articlebot")
    if ov:
        add("overlap@10 = 1.0 vs rank-bm25", ov["ties"] >= 1.0,
            f"ties-aware {ov['ties']:.4f}, strict ids {ov['strict']:.4f}, top-10 scores equal on "
            f"{ov['top10_scores_equal']:.3f} of {ov['questions']} questions, max |Δscore| {ov['max_abs_score_diff']:.2e}")
    ask = steps.get("ask", {})
    if "median_s" in ask:
        add("articlebot ask cold start ≤ 2 s", ask["median_s"] <= 2.0,
            f"median {ask['median_s']:.2f} s of {len(ask['runs'])} (import alone {ask['import_median_s']:.2f} s)")
    serve = steps.get("serve_articlebot", {})
    if "peak_rss_mib" in serve:
        add("serving peak RSS ≤ 2 GiB", serve["peak_rss_mib"] <= 2048, f"{serve['peak_rss_mib']:.0f} MiB")
    for name in ("cold", "update"):
        build = steps.get(name, {})
        if "peak_rss_mib" in build:
            total = build["peak_rss_mib"] + build.get("workers_peak_rss_mib", 0) * (
                results["machine"]["cpus"] if name == "cold" else 0)
            add(f"building peak RSS ≤ 2 GiB ({name})", build["peak_rss_mib"] <= 2048 and total <= 2048,
                f"main process {build['peak_rss_mib']:.0f} MiB, largest worker "
                f"{build.get('workers_peak_rss_mib', 0):.0f} MiB (≤ {total:.0f} MiB together)")
    out.extend(pipeline_targets(results))
    cache = steps.get("update", {}).get("cache_bytes") or steps.get("cold", {}).get("cache_bytes")
    if cache:
        corpus = results["corpus_bytes"]
        add("cache on disk ≤ 2× corpus", cache <= 2 * corpus,
            f"{cache / 1e6:.0f} MB cache vs {corpus / 1e6:.0f} MB corpus = {cache / corpus:.2f}×")
    return out


def size_class(results: dict[str, Any]) -> int:
    paragraphs = results["steps"].get("cold", {}).get("paragraphs") or 0
    return min(GOALS, key=lambda n: abs(n - paragraphs))


def pipeline_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Cold build, one-file update and `ask` against their goals, each as a ratio to its figure before
    and (the cold build) to tantivy's own build of the same tokens."""
    steps = results["steps"]
    size = size_class(results)
    goal, before = GOALS[size], BEFORE[size]
    tantivy = steps.get("build_tantivy", {}).get("build_total_s")
    out = []
    cold = steps.get("cold", {})
    if "seconds" in cold:
        runs = cold.get("runs", [cold["seconds"]])
        vs_tantivy = f", {cold['seconds'] / tantivy:.2f}× tantivy's build ({tantivy:.1f} s)" if tantivy else ""
        out.append({"target": f"cold build ≤ {goal['cold_s']:g} s", "holds": cold["seconds"] <= goal["cold_s"],
                    "detail": f"median {cold['seconds']:.1f} s of {len(runs)} ({', '.join(f'{r:.1f}' for r in runs)}); "
                              f"{cold['seconds'] / before['cold_s']:.3f}× before ({before['cold_s']:g} s){vs_tantivy}"})
        total = cold["peak_rss_mib"] + cold.get("workers_peak_rss_mib", 0) * results["machine"]["cpus"]
        out.append({"target": f"cold build peak RSS ≤ {goal['cold_rss_mib']} MiB", "holds": total <= goal["cold_rss_mib"],
                    "detail": f"main {cold['peak_rss_mib']:.0f} MiB + workers ≤ {total - cold['peak_rss_mib']:.0f} MiB"})
    update = steps.get("update", {})
    if "seconds" in update:
        out.append({"target": f"one-file update ≤ {goal['update_s']:g} s and ≤ {goal['update_rss_mib']} MiB",
                    "holds": update["seconds"] <= goal["update_s"] and update["peak_rss_mib"] <= goal["update_rss_mib"],
                    "detail": f"slowest of {len(update['runs'])}: {update['seconds']:.2f} s "
                              f"({update['seconds'] / before['update_s']:.3f}× before, {before['update_s']:g} s), "
                              f"peak RSS {update['peak_rss_mib']:.0f} MiB"})
    ask = steps.get("ask", {})
    if "median_s" in ask:
        out.append({"target": f"`articlebot ask` cold start ≤ {goal['ask_s']:g} s", "holds": ask["median_s"] <= goal["ask_s"],
                    "detail": f"median {ask['median_s']:.2f} s ({ask['median_s'] / before['ask_s']:.3f}× before, "
                              f"{before['ask_s']:g} s; import {ask['import_median_s']:.2f} s)"})
    return out


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table(results: dict[str, Any]) -> str:
    rows = results["engines"]
    lines = ["| engine | build s | query p50 ms | query p99 ms | build peak RSS MiB | serve peak RSS MiB "
             "| index on disk MB | overlap@10 vs rank-bm25 (ids / ties) |",
             "|---|---|---|---|---|---|---|---|"]

    def cell(row: dict[str, Any], key: str, digits: int, scale: float = 1.0) -> str:
        value = row.get(key)
        if value is None:
            return "–"
        r = row["ratio"].get(key)
        text = f"{value / scale:.{digits}f}"
        return text if r is None or row is rows.get("articlebot") else f"{text} ({r:.3g}×)"

    for engine, row in rows.items():
        name = engine + (f" [{row['queries']} q]" if engine == "rank_bm25" and row.get("queries") else "")
        if row.get("error"):
            name += f" ({row['error']})"
        ov = "–" if row.get("overlap_strict") is None else f"{row['overlap_strict']:.3f} / {row['overlap_ties']:.3f}"
        lines.append(f"| {name} | {cell(row, 'build_s', 1)} | {cell(row, 'query_p50_ms', 3)} | "
                     f"{cell(row, 'query_p99_ms', 3)} | {cell(row, 'build_peak_rss_mib', 0)} | "
                     f"{cell(row, 'serve_peak_rss_mib', 0)} | {cell(row, 'disk_bytes', 1, 1e6)} | {ov} |")
    return "\n".join(lines)


def extras(results: dict[str, Any]) -> str:
    s = results["steps"]
    lines = []
    cold, warm, reindex = s.get("cold", {}), s.get("warm", {}), s.get("update", {})
    if "seconds" in cold:
        lines.append(f"articlebot Library.open cold (parse+tokenize on {results['machine']['cpus']} cores, index, save): "
                     f"{cold['seconds']:.1f} s, main peak RSS {cold['peak_rss_mib']:.0f} MiB, largest worker "
                     f"{cold['workers_peak_rss_mib']:.0f} MiB" + (" [reused from an earlier run]" if cold.get("reused") else ""))
    if "seconds" in reindex:
        lines.append(f"articlebot Library.open after one file changed (incremental update): "
                     f"{', '.join(format(r['seconds'], '.1f') for r in reindex['runs'])} s, "
                     f"peak RSS {reindex['peak_rss_mib']:.0f} MiB")
    rescore = s.get("rescore", {})
    if "seconds" in rescore:
        lines.append(f"articlebot Library.open with other k1/b (bounds recomputed, nothing re-indexed): "
                     f"{rescore['seconds']:.1f} s")
    if warm.get("runs"):
        lines.append(f"articlebot Library.open warm (unchanged corpus): median {warm['median_s']:.2f} s of "
                     f"{len(warm['runs'])}, peak RSS {warm['peak_rss_mib']:.0f} MiB")
    cache = reindex.get("cache_bytes") or cold.get("cache_bytes")
    if cache:
        sizes = reindex if "cache_bytes" in reindex else cold
        lines.append(f"cache on disk: {cache / 1e6:.0f} MB = {cache / results['corpus_bytes']:.2f}× the corpus "
                     f"({results['corpus_bytes'] / 1e6:.0f} MB): index {sizes['index_bytes'] / 1e6:.0f} MB, "
                     f"articles.sqlite {sizes['articles_sqlite_bytes'] / 1e6:.0f} MB, "
                     f"manifest {sizes['manifest_bytes'] / 1e6:.1f} MB")
    ask = s.get("ask", {})
    if "median_s" in ask:
        lines.append(f"`articlebot ask` cold start, warm cache: median {ask['median_s']:.2f} s "
                     f"(runs {', '.join(format(r['seconds'], '.2f') for r in ask['runs'])}; `import bot.cli` "
                     f"{ask['import_median_s']:.2f} s; peak RSS {max(r['peak_rss_mib'] for r in ask['runs']):.0f} MiB)")
    tok = s.get("tokenize", {})
    if "chars_per_s" in tok:
        lines.append(f"tokenization, one core: {tok['chars_per_s'] / 1e3:.0f} k chars/s with heading+title "
                     f"(paragraph_tokens), {tok['text_only_chars_per_s'] / 1e3:.0f} k chars/s text only, "
                     f"normalize alone {tok['normalize_chars_per_s'] / 1e6:.1f} M chars/s; jieba init {tok['init_s']:.2f} s")
    serve = s.get("serve_articlebot", {})
    if "postings_touched" in serve:
        pt, npp = serve["postings_touched"], serve["ns_per_posting"]
        terms = serve.get("postings_of_terms", pt)
        lines.append(f"articlebot search: the questions' terms have p50 {terms['p50']:.0f} / p99 {terms['p99']:.0f} "
                     f"postings; MaxScore scans p50 {pt['p50']:.0f} / p99 {pt['p99']:.0f} (max {pt['max']}), "
                     f"{serve.get('share_scanned', 1.0):.1%} of them; {npp['median']:.1f} ns per scanned posting "
                     f"(median per query), {npp['aggregate']:.1f} ns (total time / total scanned); "
                     f"least squares: {npp.get('fixed_ns', float('nan')) / 1e3:.0f} µs per query plus "
                     f"{npp.get('marginal', float('nan')):.1f} ns per scanned posting")
    numpy_path = s.get("serve_articlebot_numpy", {})
    if "p50_ms" in numpy_path and "p50_ms" in serve:
        lines.append(f"articlebot's numpy search (one-shot commands such as `ask`, and machines without numba): "
                     f"p50 {numpy_path['p50_ms']:.3f} / p99 {numpy_path['p99_ms']:.3f} ms "
                     f"({numpy_path['p50_ms'] / serve['p50_ms']:.2f}× / {numpy_path['p99_ms'] / serve['p99_ms']:.2f}× "
                     f"the compiled search's), serve peak RSS {numpy_path['peak_rss_mib']:.0f} MiB; loading the "
                     f"compiled search took {serve.get('compile_s', float('nan')):.2f} s (numba's import, then compiling "
                     f"the first time or reading its cache after)")
    prof = s.get("profile", {})
    if prof.get("answer_latency"):
        al = prof["answer_latency"]
        lines.append(f"articlebot full answer path (Answerer.answer: tokenize, search 60, rerank, quote) on "
                     f"{prof['answer_sample']} questions: p50 {al['p50_ms']:.2f} ms, p99 {al['p99_ms']:.2f} ms")
    exp = s.get("export", {})
    if "tokens" in exp:
        lines.append(f"corpus: {exp['paragraphs']} paragraphs, {exp['tokens']} tokens "
                     f"({exp['tokens_per_paragraph']:.1f}/paragraph), vocabulary {exp['vocabulary']}, "
                     f"{exp['chars']} characters; {results['corpus_files']} files, {results['corpus_bytes'] / 1e6:.0f} MB")
    return "\n".join(f"- {line}" for line in lines)


def report(results: dict[str, Any]) -> str:
    parts = [table(results), "", extras(results), "", "targets:"]
    for t in results["targets"]:
        mark = "HOLDS" if t["holds"] else "FAILS"
        parts.append(f"- {mark}: {t['target']} — {t['detail']}")
    return "\n".join(parts)


def report_only(work: Path, out: Path | None) -> int:
    """Refresh a finished run's report with steps re-run since (e.g. ``--step ask``)."""
    import steps as step_module
    results = read_json(work / "results.json")
    for name in list(results["steps"]):
        path = work / "steps" / f"{name}.json"
        if name not in ("warm", "cold") and path.exists():
            results["steps"][name] = {**read_json(path), "wall_s": results["steps"][name].get("wall_s")}
    results["overlap"] = step_module.overlap(results["config"])
    results["engines"] = engine_rows(results)
    results["targets"] = targets(results)
    write_json(work / "results.json", results)
    if out:
        write_json(out, results)
    print(report(results))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, help="corpus folder (e.g. from make_corpus.py)")
    parser.add_argument("--questions", type=Path, action="append", help="questions.jsonl (repeatable)")
    parser.add_argument("--sample", type=int, help="time this many questions (a fixed random sample; default all)")
    parser.add_argument("--rank-bm25-sample", type=int, default=50,
                        help="questions for plain rank-bm25 and the overlap check (the first of the sample)")
    parser.add_argument("--work", type=Path, help="working folder (tokens, indexes, results); default /tmp/articlebot-bench-<corpus>")
    parser.add_argument("--cache-dir", type=Path, help="articlebot cache dir (default WORK/cache)")
    parser.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated subset of {','.join(ENGINES)}")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse the cold build, the exported tokens and finished builds from an earlier run in WORK")
    parser.add_argument("--skip", default="", help="comma-separated steps to skip (e.g. profile,update)")
    parser.add_argument("--warm-runs", type=int, default=3)
    parser.add_argument("--cold-runs", type=int, default=1,
                        help="build the cache from scratch this many times and report the median (the last one is kept)")
    parser.add_argument("--ask-runs", type=int, default=3)
    parser.add_argument("--serve-rounds", type=int, default=3,
                        help="time every engine's queries this many times, engines in turn, and report the "
                             "median round's p50 and p99 (FTS5 once: it is 100× slower than the rest)")
    parser.add_argument("--step-timeout", type=float, default=3600)
    parser.add_argument("--only-cold", action="store_true",
                        help="only build articlebot's cache from scratch (the cold step), for a later --reuse run")
    parser.add_argument("--out", type=Path, help="also write the results JSON here")
    parser.add_argument("--report-only", action="store_true",
                        help="recompute the report from WORK/results.json and the step files in WORK/steps")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.step:
        return step_main(args.step, args.work)
    if args.report_only:
        return report_only(args.work.resolve(), args.out)
    if not args.corpus or not args.questions:
        parser.error("--corpus and --questions are required")

    corpus = args.corpus.resolve()
    work = (args.work or Path(f"/tmp/articlebot-bench-{corpus.name}")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    engines = [e for e in args.engines.split(",") if e]
    unknown = set(engines) - set(ENGINES)
    if unknown:
        parser.error(f"unknown engines: {', '.join(sorted(unknown))}")
    skip = {s for s in args.skip.split(",") if s}
    config: dict[str, Any] = {
        "corpus": str(corpus), "work": str(work), "cache_dir": str((args.cache_dir or work / "cache").resolve()),
        "questions": [str(q.resolve()) for q in args.questions], "engines": engines,
        "rank_bm25_sample": args.rank_bm25_sample, "warmup": 50, "tantivy_heap": 512 * 2**20,
        "tokenize_chars": 2_000_000, "answer_sample": 300, "ask_runs": args.ask_runs,
        "ask_question": "DeepSeek V3 的训练成本是多少？", "sample_indices": [],
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "profile_build": "profile_build" not in skip,
    }
    write_json(work / "config.json", config)
    total_bytes, total_files = corpus_bytes(corpus)
    results: dict[str, Any] = {"config": config, "machine": machine(), "corpus_bytes": total_bytes,
                               "corpus_files": total_files, "steps": {}}
    steps = results["steps"]
    started = time.perf_counter()

    def run(name: str) -> dict[str, Any]:
        steps[name] = run_step(name, work, args.step_timeout)
        return steps[name]

    previous = work / "steps"
    if args.reuse and (previous / "cold.json").exists():
        steps["cold"] = {**read_json(previous / "cold.json"), "reused": True}
    else:
        colds = [run_step("cold", work, args.step_timeout) for _ in range(max(1, args.cold_runs))]
        ok_colds = sorted((c for c in colds if "seconds" in c), key=lambda c: c["seconds"])
        steps["cold"] = dict(ok_colds[len(ok_colds) // 2]) if ok_colds else colds[-1]
        steps["cold"]["runs"] = [c["seconds"] for c in colds if "seconds" in c]
        if "error" in steps["cold"] or args.only_cold:
            write_json(work / "results.json", results)
            return 1
    warm_runs = [run_step("warm", work, args.step_timeout) for _ in range(args.warm_runs)]
    ok = [w for w in warm_runs if "seconds" in w]
    if ok:
        seconds = sorted(w["seconds"] for w in ok)
        steps["warm"] = {"runs": seconds, "median_s": seconds[len(seconds) // 2],
                         "peak_rss_mib": max(w["peak_rss_mib"] for w in ok)}
    if args.reuse and (work / "tokens" / "questions.json").exists() and (previous / "export.json").exists():
        steps["export"] = {**read_json(previous / "export.json"), "reused": True}
    else:
        run("export")
    n_questions = len(read_json(work / "tokens" / "questions.json"))
    indices = list(range(n_questions))
    if args.sample and args.sample < n_questions:
        indices = sorted(random.Random(0).sample(indices, args.sample))
        random.Random(1).shuffle(indices)
    else:
        random.Random(1).shuffle(indices)
    config["sample_indices"] = indices
    write_json(work / "config.json", config)

    if "tokenize" not in skip:
        run("tokenize")
    for engine in dict.fromkeys(BUILT_BY.get(e, e) for e in engines):  # bm25s_numba alone builds bm25s's index
        if engine == "rank_bm25" or f"build_{engine}" in skip:
            continue
        done = previous / f"build_{engine}.json"
        if args.reuse and done.exists() and (work / "indexes" / engine).exists():
            steps[f"build_{engine}"] = {**read_json(done), "reused": True}
        else:
            run(f"build_{engine}")
    served = [f"serve_{engine}" for engine in engines
              if engine != "rank_bm25" and "error" not in steps.get(f"build_{BUILT_BY.get(engine, engine)}", {})]
    if "articlebot" in engines:
        served.append("serve_articlebot_numpy")
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in served}
    for round_ in range(max(1, args.serve_rounds)):
        for name in served:
            if round_ == 0 or name != "serve_fts5":
                rounds[name].append(run_step(name, work, args.step_timeout))
    for name, results_ in rounds.items():
        steps[name] = median_round(results_)
    if "rank_bm25" in engines:
        run("rank_bm25")
    for name in ("ask", "profile", "update", "rescore"):
        if name not in skip:
            run(name)

    import steps as step_module
    results["overlap"] = step_module.overlap(config)
    results["engines"] = engine_rows(results)
    results["targets"] = targets(results)
    results["wall_s"] = time.perf_counter() - started
    write_json(work / "results.json", results)
    if args.out:
        write_json(args.out, results)
    print(report(results))
    print(f"\nresults: {work / 'results.json'}  (total {results['wall_s'] / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
