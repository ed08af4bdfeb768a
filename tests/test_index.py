"""index.py: BM25 scored exactly like rank-bm25's BM25Okapi given Lucene's idf, searched by postings."""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pytest
from conftest import ReferenceBM25
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import IndexCacheError
from bot.search.index import (
    EXHAUSTIVE,
    BM25Index,
    BM25Params,
    EncodedTokens,
    Hit,
    IndexBuilder,
    Segmented,
    encode,
    frequencies_in,
    load_segmented,
    positions_in,
    save_delta,
)

VOCABULARY = [f"w{i}" for i in range(40)]
COMMON = "common"
"""A term in nearly every document: BM25Okapi's idf would be negative; Lucene's stays above 0."""


def random_corpus(rng: random.Random, n_docs: int) -> list[list[str]]:
    docs = []
    for _ in range(n_docs):
        doc = [rng.choice(VOCABULARY[: rng.randint(3, len(VOCABULARY))]) for _ in range(rng.randint(1, 30))]
        if rng.random() < 0.8:
            doc += [COMMON] * rng.randint(1, 3)
        docs.append(doc)
    return docs


def okapi(corpus: list[list[str]], p: BM25Params = BM25Params()) -> ReferenceBM25:
    """rank-bm25 with our knobs (its own default k1 is 1.5, ours 0.9) and our idf."""
    return ReferenceBM25(corpus, k1=p.k1, b=p.b)


def assert_scores_match(ours: np.ndarray, reference: np.ndarray) -> None:
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-5)


corpora = st.integers(min_value=1, max_value=60).flatmap(
    lambda n: st.builds(random_corpus, st.randoms(use_true_random=False), st.just(n)))
queries = st.lists(st.sampled_from(VOCABULARY + [COMMON, "unknown"]), min_size=1, max_size=6)
params = st.builds(BM25Params, k1=st.floats(0.05, 3.0), b=st.floats(0.0, 1.0))


@settings(max_examples=40, deadline=None)
@given(corpora, queries, params)
def test_scores_equal_rank_bm25(corpus: list[list[str]], query: list[str], p: BM25Params) -> None:
    reference = okapi(corpus, p).get_scores(query)
    assert_scores_match(BM25Index.build(corpus, p).scores(query), reference)


def test_a_term_in_every_paragraph_still_weighs_something() -> None:
    corpus = random_corpus(random.Random(7), 30)
    corpus = [doc + [COMMON] for doc in corpus]
    reference = okapi(corpus)
    index = BM25Index.build(corpus)
    assert index.idf(COMMON) == pytest.approx(reference.idf[COMMON])
    assert index.idf(COMMON) == pytest.approx(math.log1p(0.5 / 30.5))
    assert_scores_match(index.scores([COMMON, "w1"]), reference.get_scores([COMMON, "w1"]))


@pytest.mark.parametrize("n_docs", [1, 2, 3, 6])
def test_tiny_corpora_find_every_word_they_hold(n_docs: int) -> None:
    """Okapi's idf is 0 for a word in half of 6 paragraphs and negative in 1 of 1: nothing was found."""
    corpus = [[f"own{i}", "shared", "title"] + (["half"] if i % 2 == 0 else []) for i in range(n_docs)]
    index = BM25Index.build(corpus)
    for word in ("own0", "shared", "title", "half"):
        assert index.idf(word) > 0
        assert index.search([word], 1), word
        assert_scores_match(index.scores([word]), okapi(corpus).get_scores([word]))
    assert index.search(["own0"], 1)[0].paragraph == 0


def test_repeated_query_token_counts_each_time() -> None:
    corpus = random_corpus(random.Random(3), 20)
    reference = okapi(corpus)
    index = BM25Index.build(corpus)
    assert_scores_match(index.scores(["w2", "w2"]), reference.get_scores(["w2", "w2"]))
    assert_scores_match(index.scores(["w2", "w2"]), 2 * index.scores(["w2"]))


@settings(max_examples=40, deadline=None)
@given(corpora, queries, st.integers(1, 12))
def test_search_returns_the_top_k_positive_scores_best_first(corpus: list[list[str]], query: list[str],
                                                            k: int) -> None:
    index = BM25Index.build(corpus)
    scores = index.scores(query)
    hits = index.search(query, k)
    best = sorted((float(s) for s in scores if s > 0), reverse=True)[:k]
    assert [h.score for h in hits] == best
    assert [h.score for h in hits] == [float(scores[h.paragraph]) for h in hits]
    assert len({h.paragraph for h in hits}) == len(hits)
    reference = okapi(corpus).get_scores(query)
    for hit in hits:
        assert hit.score == pytest.approx(reference[hit.paragraph], rel=1e-4, abs=1e-5)


def test_search_breaks_ties_by_paragraph_order() -> None:
    corpus = [["x", "filler"] for _ in range(200)] + [["y", "other"] for _ in range(200)] + [["z"]] * 600
    index = BM25Index.build(corpus)
    for k in (1, 3, 10, 50, 200):
        assert [h.paragraph for h in index.search(["x"], k)] == list(range(k))
        assert [h.paragraph for h in index.search(["y"], k)] == list(range(200, 200 + k))
        assert [h.paragraph for h in index.search(["y", "x"], k)] == list(range(k))


def test_search_with_k_zero_finds_nothing() -> None:
    assert BM25Index.build(random_corpus(random.Random(1), 10)).search(["w1"], 0) == []


def test_empty_corpus_finds_nothing() -> None:
    index = BM25Index.build([])
    assert index.n_docs == 0
    assert index.search(["anything"], 5) == []
    assert len(index.scores(["anything"])) == 0


def test_corpus_of_empty_documents_finds_nothing() -> None:
    assert BM25Index.build([[], [], [], [], [], []]).search(["x"], 3) == []


def test_unknown_tokens_find_nothing() -> None:
    index = BM25Index.build(random_corpus(random.Random(2), 10))
    assert index.search(["nope", "nada"], 5) == []
    assert index.search([], 5) == []


def test_an_unknown_token_weighs_as_much_as_the_rarest_known_one() -> None:
    index = BM25Index.build([["rare"], *random_corpus(random.Random(2), 9)])
    assert index.idf("nope") == pytest.approx(index.idf("rare")) == pytest.approx(math.log1p(9.5 / 1.5))
    assert all(index.idf("nope") >= index.idf(term) for term in index.vocabulary)


def test_save_and_load_give_identical_results(tmp_path: Path) -> None:
    corpus = random_corpus(random.Random(11), 50)
    params = BM25Params(k1=1.5, b=0.6)
    index = BM25Index.build(corpus, params)
    index.save(tmp_path / "index")
    loaded = BM25Index.load(tmp_path / "index", params)
    assert loaded.n_docs == index.n_docs
    assert loaded.vocabulary == index.vocabulary
    rng = random.Random(5)
    for _ in range(30):
        query = rng.sample(VOCABULARY + [COMMON], rng.randint(1, 5))
        assert loaded.search(query, 10) == index.search(query, 10)
        assert np.array_equal(loaded.scores(query), index.scores(query))
        assert loaded.idf(query[0]) == index.idf(query[0])


def test_empty_index_saves_and_loads(tmp_path: Path) -> None:
    BM25Index.build([]).save(tmp_path / "empty")
    assert BM25Index.load(tmp_path / "empty").search(["x"], 3) == []


def test_loading_a_missing_index_raises_index_cache_error(tmp_path: Path) -> None:
    with pytest.raises(IndexCacheError):
        BM25Index.load(tmp_path / "nothing-here")


@settings(max_examples=40, deadline=None)
@given(corpora, st.dictionaries(st.sampled_from(VOCABULARY + [COMMON, "unknown"]), st.floats(0.1, 10.0),
                                min_size=1, max_size=6), st.data())
def test_matched_weight_agrees_with_brute_force(corpus: list[list[str]], weights: dict[str, float],
                                                data: st.DataObject) -> None:
    index = BM25Index.build(corpus)
    paragraphs = data.draw(st.lists(st.integers(0, len(corpus) - 1), max_size=20))
    expected = [sum(w for token, w in weights.items() if token in corpus[i]) for i in paragraphs]
    by_term = {term: w for token, w in weights.items() if (term := index.term(token)) is not None}
    assert index.matched_weight(by_term, paragraphs) == pytest.approx(expected)
    assert [[index.holds(token, i) for i in paragraphs] for token in weights] == [
        [token in corpus[i] for i in paragraphs] for token in weights]


def test_hits_are_plain_values() -> None:
    hit = BM25Index.build([["a", "b"], ["b"], ["c"], ["d"], ["e"], ["f"]]).search(["a"], 1)[0]
    assert hit == Hit(0, hit.score)
    assert isinstance(hit.score, float) and isinstance(hit.paragraph, int)


def zipf_corpus(rng: random.Random, n_docs: int, n_terms: int = 400) -> list[list[str]]:
    """Paragraphs whose words follow Zipf's law: a few terms are in thousands of paragraphs."""
    weights = [1 / (rank + 1) for rank in range(n_terms)]
    terms = [f"t{i}" for i in range(n_terms)]
    return [rng.choices(terms, weights, k=rng.randint(3, 40)) for _ in range(n_docs)]


def test_the_exhaustive_search_is_exact_on_long_postings_and_reads_them_all() -> None:
    """The oracle: every posting of every term read, the exact top k (test_compiled.py holds the
    compiled MaxScore, which skips postings, to the same hits)."""
    rng = random.Random(17)
    corpus = zipf_corpus(rng, 30_000)
    index = BM25Index.build(corpus)
    for _ in range(60):
        query = [f"t{rng.choice([0, 1, 2, 3, 5, 8])}"] + [f"t{rng.randint(20, 399)}" for _ in range(rng.randint(1, 4))]
        k = rng.choice([1, 3, 10, 20])
        scores = index.scores(query)
        order = sorted((i for i in range(len(scores)) if scores[i] > 0), key=lambda i: (-scores[i], i))[:k]
        hits = index.search(query, k)
        assert [h.paragraph for h in hits] == order
        assert [h.score for h in hits] == [float(scores[i]) for i in order]
        total, read = index.postings_read(query, k)
        assert read == total


def test_build_in_many_small_blocks_equals_one_block(monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = zipf_corpus(random.Random(4), 500)
    whole = BM25Index.build(corpus)
    monkeypatch.setattr("bot.search.index.BLOCK_TOKENS", 97)
    monkeypatch.setattr("bot.search.index.CHUNK_POSTINGS", 50)
    builder = IndexBuilder()
    for start in range(0, len(corpus), 7):
        builder.add_documents(corpus[start:start + 7])
    blocks = builder.finish()
    assert blocks.vocabulary == whole.vocabulary
    for name in ("offsets", "doc_ids", "tfs", "lengths", "bounds"):
        assert np.array_equal(getattr(blocks, name), getattr(whole, name)), name


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=6), max_size=12), st.integers(1, 9))
def test_postings_count_each_term_per_paragraph_whatever_the_empty_paragraphs(
        documents: list[list[str]], block: int) -> None:
    """Empty paragraphs first, between and last, blocks cut anywhere: each posting is a (term, paragraph,
    count) the paragraph really holds."""
    builder = IndexBuilder()
    import bot.search.index as index_module

    original, index_module.BLOCK_TOKENS = index_module.BLOCK_TOKENS, block
    try:
        for document in documents:
            builder.add_documents([document])
        built = builder.finish()
    finally:
        index_module.BLOCK_TOKENS = original
    found = {(term, int(doc), int(tf)) for i, term in enumerate(built.terms)
             for doc, tf in zip(built.doc_ids[built.offsets[i]:built.offsets[i + 1]],
                                built.tfs[built.offsets[i]:built.offsets[i + 1]])}
    assert found == {(term, n, document.count(term)) for n, document in enumerate(documents) for term in set(document)}
    assert built.lengths.tolist() == [len(document) for document in documents]


@pytest.mark.parametrize("dropped", [set(), {0}, {3, 4, 5}, set(range(0, 60, 2)), set(range(60))])
@pytest.mark.parametrize("chunk", [7, 1 << 23])
def test_update_drops_and_appends_like_a_fresh_build(dropped: set[int], chunk: int,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """An update keeps the old postings of unchanged paragraphs: same scores as building the result anew."""
    monkeypatch.setattr("bot.search.index.CHUNK_POSTINGS", chunk)
    rng = random.Random(len(dropped))
    old = random_corpus(rng, 60)
    added = random_corpus(rng, 25) + [["brand-new", "w1"]] * 3
    builder = IndexBuilder(BM25Index.build(old), [(1, i not in dropped) for i in range(len(old))])
    for start in range(0, len(added), 6):
        builder.add_documents(added[start:start + 6])
    updated = builder.finish()
    expected_corpus = [doc for i, doc in enumerate(old) if i not in dropped] + added
    expected = BM25Index.build(expected_corpus)
    assert updated.n_docs == len(expected_corpus)
    for query in (["w1"], ["w2", "w3", COMMON], ["brand-new"], [COMMON], ["w7", "w7", "w30"]):
        assert_scores_match(updated.scores(query), okapi(expected_corpus).get_scores(query))
        assert [h.paragraph for h in updated.search(query, 10)] == [h.paragraph for h in expected.search(query, 10)]


def test_loading_with_other_params_rescores_without_rebuilding(tmp_path: Path) -> None:
    corpus = random_corpus(random.Random(8), 40)
    BM25Index.build(corpus).save(tmp_path / "index")
    other = BM25Params(k1=1.6, b=0.8)
    loaded = BM25Index.load(tmp_path / "index", other)
    assert_scores_match(loaded.scores(["w1", "w2"]), okapi(corpus, other).get_scores(["w1", "w2"]))
    assert np.array_equal(loaded.bounds, BM25Index.build(corpus, other).bounds)
    assert np.array_equal(BM25Index.load(tmp_path / "index", other).bounds, loaded.bounds)


def test_encoded_tokens_spell_each_token_once() -> None:
    encoded = encode([["a", "b", "a"], [], ["b", "c"]])
    assert encoded.terms == ("a", "b", "c")
    assert encoded.ids.tolist() == [0, 1, 0, 1, 2]
    assert encoded.lengths.tolist() == [3, 0, 2]


def test_a_worker_numbering_is_mapped_once_and_must_arrive_in_order() -> None:
    """Files tokenized by a worker name terms by the worker's numbers, spelling only the new ones;
    a file from the same worker that skips ahead of what it spelled is refused, never misread."""
    builder = IndexBuilder()
    one = np.asarray([0, 1, 0], dtype=np.int32)
    builder.add(EncodedTokens(("a", "b"), one, np.asarray([3], dtype=np.int32), source=7, first=0))
    builder.add(EncodedTokens(("b",), np.asarray([0], dtype=np.int32), np.asarray([1], dtype=np.int32)))
    builder.add(EncodedTokens(("c",), np.asarray([2, 1], dtype=np.int32), np.asarray([2], dtype=np.int32),
                              source=7, first=2))
    with pytest.raises(ValueError, match="out of order"):
        builder.add(EncodedTokens(("d",), np.asarray([3], dtype=np.int32), np.asarray([1], dtype=np.int32),
                                  source=7, first=4))
    index = builder.finish()
    expected = BM25Index.build([["a", "b", "a"], ["b"], ["c", "b"]])
    assert index.terms == expected.terms
    assert_scores_match(index.scores(["a", "b", "c"]), expected.scores(["a", "b", "c"]))


def test_a_warmed_index_finds_each_term_as_bisection_does() -> None:
    """A serving process builds the term dict once (``warm``); the answers never change with it,
    for a base whose deleted paragraphs took a term's last posting with them, and for a delta."""
    rng = random.Random(12)
    corpus = random_corpus(rng, 60)
    corpus[5] = ["only-here", *corpus[5]]
    tokens = [*VOCABULARY, COMMON, "only-here", "new-in-delta", "absent", ""]
    keep = np.ones(len(corpus), dtype=bool)
    keep[5] = False
    dropped = IndexBuilder(BM25Index.build(corpus), keep=keep).finish()  # lists only-here, with no postings
    for index in (BM25Index.build(corpus), dropped, segmented(corpus, {5}, [["new-in-delta", "w1"]])):
        before = [(index.term(t), index.position(t), index.idf(t)) for t in tokens]
        hits = index.search(["w1", "w2", "new-in-delta", "only-here"], 5)
        index.warm()
        assert [(index.term(t), index.position(t), index.idf(t)) for t in tokens] == before
        assert index.search(["w1", "w2", "new-in-delta", "only-here"], 5) == hits
    assert dropped.position("only-here") is not None and dropped.term("only-here") is None
    assert before[tokens.index("only-here")][0] is None and before[tokens.index("new-in-delta")][0] is not None


def segmented(old: list[list[str]], dropped: set[int], added: list[list[str]],
              p: BM25Params = BM25Params(), scorer: object = None) -> Segmented:
    """``old`` as a base, its ``dropped`` paragraphs deleted and ``added`` as the delta."""
    base = BM25Index.build(old, p)
    deleted = np.asarray(sorted(dropped), dtype=np.int64)
    frequencies = frequencies_in(base, encode([old[i] for i in sorted(dropped)]))
    assert frequencies is not None
    delta = BM25Index.build(added, p)
    return Segmented(base, delta, deleted, frequencies, positions_in(base, delta.terms), scorer)  # type: ignore[arg-type]


SEGMENT_CASES = [set(), {0}, {3, 4, 5}, set(range(0, 60, 2)), set(range(60))]


@pytest.mark.parametrize("dropped", SEGMENT_CASES)
@pytest.mark.parametrize("n_added", [0, 1, 25])
def test_a_base_with_a_delta_scores_as_one_index_of_the_same_paragraphs(dropped: set[int], n_added: int) -> None:
    """Global N, avgdl and document frequencies: exactly BM25 over the whole collection (rank-bm25)."""
    rng = random.Random(len(dropped) * 100 + n_added)
    old = zipf_corpus(rng, 60, 50) + random_corpus(rng, 20)
    added = (random_corpus(rng, n_added) + [["brand-new", "w1"]] * min(n_added, 3))
    index = segmented(old, dropped, added)
    expected_corpus = [doc for i, doc in enumerate(old) if i not in dropped] + added
    expected = BM25Index.build(expected_corpus)
    assert index.n_docs == expected.n_docs
    assert np.array_equal(index.lengths, expected.lengths)
    queries = (["w1"], ["w2", "w3", COMMON], ["brand-new"], [COMMON], ["w7", "w7", "w30"], ["t0", "t1", "t9"],
               ["t3", "brand-new", "unknown"])
    for query in queries:
        if expected.n_docs:
            assert_scores_match(index.scores(query), okapi(expected_corpus).get_scores(query))
        got, want = index.search(query, 10), expected.search(query, 10)
        assert [h.paragraph for h in got] == [h.paragraph for h in want], query
        np.testing.assert_allclose([h.score for h in got], [h.score for h in want], rtol=1e-5)
        assert index.postings_read(query, 10)[1] >= 0
    for token in {t for doc in old + added for t in doc} | {"unknown"}:
        term, other = index.term(token), expected.term(token)
        assert (term is None) == (other is None), token
        assert index.knows(token) == expected.knows(token)
        assert index.idf(token) == pytest.approx(expected.idf(token)), token
        if term is not None and other is not None:
            assert index.frequencies[term] == expected.frequencies[other]
            assert index.paragraphs_of(term).tolist() == expected.paragraphs_of(other).tolist(), token
            assert index.terms[term] == token
    pairs = [(t, e) for t, e in ((index.term(w), expected.term(w)) for w in ("w1", COMMON, "brand-new", "t2"))
             if t is not None and e is not None]
    paragraphs = list(range(0, expected.n_docs, 3))
    if pairs:
        assert np.array_equal(index.holding([t for t, _ in pairs], paragraphs),
                              expected.holding([e for _, e in pairs], paragraphs))
        starts, ends = paragraphs[:-1], paragraphs[1:]
        assert np.array_equal(index.holding_within([t for t, _ in pairs], starts, ends),
                              expected.holding_within([e for _, e in pairs], starts, ends))


def test_a_delta_saves_and_loads_with_its_base(tmp_path: Path) -> None:
    rng = random.Random(5)
    old, added = zipf_corpus(rng, 80, 60), zipf_corpus(rng, 10, 90)
    index = segmented(old, {1, 7, 8}, added)
    base, delta = BM25Index.build(old), BM25Index.build(added)
    base.save(tmp_path / "base")
    frequencies = frequencies_in(base, encode([old[1], old[7], old[8]]))
    assert frequencies is not None
    save_delta(tmp_path / "delta", delta, index.deleted, frequencies, positions_in(base, delta.terms))
    loaded = load_segmented(tmp_path / "base", tmp_path / "delta")
    for query in (["t0", "t1"], ["t70", "t3"], ["t55"]):
        assert loaded.search(query, 5) == index.search(query, 5)
    (tmp_path / "delta" / "deleted.npy").write_bytes(b"garbage")
    with pytest.raises(IndexCacheError):
        load_segmented(tmp_path / "base", tmp_path / "delta")


def test_the_numpy_and_compiled_search_agree_on_a_base_with_a_delta() -> None:
    pytest.importorskip("numba")
    from bot.search.compiled import CompiledSearch
    rng = random.Random(11)
    old, added = zipf_corpus(rng, 6000), zipf_corpus(rng, 700)
    dropped = set(rng.sample(range(6000), 400))
    numpy_index = segmented(old, dropped, added, scorer=EXHAUSTIVE)
    compiled_index = segmented(old, dropped, added, scorer=CompiledSearch())
    expected = BM25Index.build([doc for i, doc in enumerate(old) if i not in dropped] + added)
    for _ in range(40):
        query = [f"t{rng.choice([0, 1, 2, 3, 5, 8])}"] + [f"t{rng.randint(20, 399)}" for _ in range(rng.randint(1, 4))]
        k = rng.choice([1, 3, 10, 20])
        got = compiled_index.search(query, k)
        assert got == numpy_index.search(query, k)
        assert [h.paragraph for h in got] == [h.paragraph for h in expected.search(query, k)]


def test_merging_a_delta_into_its_base_equals_a_fresh_build() -> None:
    rng = random.Random(21)
    old, added = zipf_corpus(rng, 300, 80), zipf_corpus(rng, 40, 120)
    dropped = set(range(0, 300, 7))
    index = segmented(old, dropped, added)
    keep = np.ones(index.base.n_docs, dtype=bool)
    keep[index.deleted] = False
    builder = IndexBuilder(index.base, keep=keep)
    builder.add_index(index.delta)
    merged = builder.finish()
    expected = BM25Index.build([doc for i, doc in enumerate(old) if i not in dropped] + added)
    assert merged.terms == [t for t in expected.terms]
    for name in ("offsets", "doc_ids", "tfs", "lengths", "bounds"):
        assert np.array_equal(getattr(merged, name), getattr(expected, name)), name
