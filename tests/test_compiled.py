"""compiled.py and kernel.py: the compiled search finds exactly what the exhaustive numpy scorer and
rank-bm25 find, and the bot's switch serves numpy until it has compiled."""

from __future__ import annotations

import logging
import random
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_index import COMMON, VOCABULARY, corpora, okapi, queries, random_corpus, zipf_corpus

import bot.search
from bot.search.compiled import CompiledSearch, CompiledWhenReady
from bot.search.index import EXHAUSTIVE, BM25Index, Hit

REPO = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def compiled() -> CompiledSearch:
    """The compiled search (compiled once, seconds, then loaded from numba's cache)."""
    return CompiledSearch()


def build(corpus: list[list[str]], scorer: object) -> BM25Index:
    return BM25Index.build(corpus, scorer=scorer)  # type: ignore[arg-type]


def numpy_hits(index: BM25Index, query: list[str], k: int) -> list[Hit]:
    """What the exhaustive numpy scorer finds on the same arrays."""
    return EXHAUSTIVE.top_k(index, index.terms_of(query), k)[0] if index.terms_of(query).ids else []


def exact_order(index: BM25Index, query: list[str], k: int) -> list[int]:
    scores = index.scores(query)
    return sorted((i for i in range(len(scores)) if scores[i] > 0), key=lambda i: (-scores[i], i))[:k]


@settings(max_examples=60, deadline=None)
@given(corpora, queries, st.integers(1, 12))
def test_compiled_search_equals_numpy_search_and_rank_bm25(compiled: CompiledSearch, corpus: list[list[str]],
                                                            query: list[str], k: int) -> None:
    index = build(corpus, compiled)
    hits = index.search(query, k)
    assert hits == numpy_hits(index, query, k)
    reference = okapi(corpus).get_scores(query)
    for hit in hits:
        assert hit.score == pytest.approx(reference[hit.paragraph], rel=1e-4, abs=1e-5)


def test_pruned_compiled_search_is_exact_and_skips_postings(compiled: CompiledSearch) -> None:
    rng = random.Random(23)
    index = build(zipf_corpus(rng, 30_000), compiled)
    skipped = 0
    for _ in range(80):
        query = [f"t{rng.choice([0, 1, 2, 3, 5, 8])}"] + [f"t{rng.randint(10, 399)}" for _ in range(rng.randint(1, 6))]
        k = rng.choice([1, 3, 10, 20])
        scores = index.scores(query)
        hits = index.search(query, k)
        assert [h.paragraph for h in hits] == exact_order(index, query, k)
        assert [h.score for h in hits] == [float(scores[h.paragraph]) for h in hits]
        assert hits == numpy_hits(index, query, k)
        total, read = index.postings_read(query, k)
        skipped += total - read
    assert skipped > 0, "no query skipped any postings: the compiled pruning never ran"


def test_a_token_asked_twice_counts_twice(compiled: CompiledSearch) -> None:
    corpus = random_corpus(random.Random(3), 40)
    index = build(corpus, compiled)
    query = ["w2", "w2", "w5", COMMON]
    hits = index.search(query, 5)
    assert hits == numpy_hits(index, query, 5)
    reference = okapi(corpus).get_scores(query)
    assert [h.score for h in hits] == pytest.approx(sorted(reference, reverse=True)[:5], rel=1e-4)


def test_ties_go_to_the_earlier_paragraph(compiled: CompiledSearch) -> None:
    corpus = [["x", "filler"] for _ in range(200)] + [["y", "other"] for _ in range(200)] + [["z"]] * 600
    index = build(corpus, compiled)
    for k in (1, 3, 10, 50, 200):
        assert [h.paragraph for h in index.search(["x"], k)] == list(range(k))
        assert [h.paragraph for h in index.search(["y", "x"], k)] == list(range(k))


def test_k_beyond_the_matching_paragraphs_returns_them_all(compiled: CompiledSearch) -> None:
    corpus = random_corpus(random.Random(9), 30) + [["rare"], ["rare", "rare"]]
    index = build(corpus, compiled)
    assert [h.paragraph for h in index.search(["rare"], 10)] == [31, 30]


def test_searches_from_many_threads_at_once_agree(compiled: CompiledSearch) -> None:
    """The bot answers from several threads; each has its own scratch arrays."""
    rng = random.Random(31)
    index = build(zipf_corpus(rng, 8_000), compiled)
    asked = [[f"t{rng.randint(0, 300)}" for _ in range(rng.randint(1, 8))] for _ in range(200)]
    expected = [numpy_hits(index, query, 10) for query in asked]
    mismatches: list[int] = []

    def ask(offset: int) -> None:
        for i in range(offset, len(asked), 4):
            if index.search(asked[i], 10) != expected[i]:
                mismatches.append(i)

    threads = [threading.Thread(target=ask, args=(offset,)) for offset in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert mismatches == []


def test_the_switch_serves_numpy_until_the_compiled_search_has_loaded(compiled: CompiledSearch) -> None:
    switch = CompiledWhenReady()
    rng = random.Random(41)
    index = build(zipf_corpus(rng, 30_000), switch)
    query = ["t0", "t1", "t250"]
    total, read = index.postings_read(query, 3)
    assert read == total  # numpy's exhaustive scorer reads everything
    before = index.search(query, 3)
    assert switch.load() and switch.compiled
    total, read = index.postings_read(query, 3)
    assert read < total  # the compiled search skips
    assert index.search(query, 3) == before


def test_without_numba_the_numpy_search_serves_and_says_why(monkeypatch: pytest.MonkeyPatch,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "numba", None)  # what an import of a missing package gives
    monkeypatch.delitem(sys.modules, "bot.search.kernel", raising=False)
    monkeypatch.delattr(bot.search, "kernel", raising=False)
    switch = CompiledWhenReady()
    with caplog.at_level(logging.WARNING, logger="bot.search.compiled"):
        assert switch.load() is False
    assert "searching with numpy" in caplog.text
    assert not switch.compiled
    index = build(random_corpus(random.Random(5), 20), switch)
    assert index.search(VOCABULARY[:3], 3)


def test_one_shot_commands_never_import_numba(tmp_path: Path) -> None:
    """`articlebot ask` must start in well under 2 s at a million paragraphs: numba's import is not on its path."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(6):
        (corpus / f"a{i}.md").write_text(f"---\ntitle: Article {i}\n---\n\nParagraph {i} about compilers.\n",
                                         encoding="utf-8")
    script = ("import sys\nfrom bot.cli import main\n"
              f"code = main(['ask', '--corpus', {str(corpus)!r}, '--cache-dir', {str(tmp_path / 'cache')!r}, "
              "'compilers'])\n"
              "assert 'numba' not in sys.modules, 'ask imported numba'\nsys.exit(code)\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "compilers" in done.stdout
