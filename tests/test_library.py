"""library.py: the corpus, parsed and indexed once, reloaded from the on-disk cache when unchanged."""

from __future__ import annotations

import logging
import os
import pickle
import shutil
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import LONG_PARAGRAPHS, ReferenceBM25, write_files

from bot.config import Settings
from bot.search.boilerplate import Boilerplate
from bot.search.index import Hit, Segmented
from bot.search.library import DELTA_SHARE, Library, Vocabulary, indexed, paragraph_tokens
from bot.search.tokens import Tokenizer


class CountingTokenizer(Tokenizer):
    """A real tokenizer (the session's, so jieba loads once) that counts how often it is asked to tokenize."""

    def __init__(self, inner: Tokenizer) -> None:
        super().__init__(inner.bigrams)
        self.inner = inner
        self.calls = 0

    def __call__(self, text: str) -> list[str]:
        self.calls += 1
        return self.inner(text)

    def iter_tokens(self, text: str) -> Iterator[str]:
        self.calls += 1
        return self.inner.iter_tokens(text)

    def word_tokens(self, normalized: str) -> list[str]:
        self.calls += 1
        return self.inner.word_tokens(normalized)

    def normalize(self, text: str) -> str:
        return self.inner.normalize(text)


@pytest.fixture
def counting(tokenizer: Tokenizer) -> CountingTokenizer:
    return CountingTokenizer(tokenizer)


def cache_folder(settings: Settings) -> Path:
    folders = [p for p in settings.cache_dir.iterdir() if p.is_dir()]
    assert len(folders) == 1
    return folders[0]


def titles(library: Library, words: str) -> list[str]:
    """Titles of the articles holding the best passages for the words, best first, each once."""
    return list(dict.fromkeys(p.article.title for p in library.search(library.tokenizer(words), 10)))


def touch_later(path: Path, text: str) -> None:
    """Rewrite a file and move its mtime forward, as an editor saving it a moment later would."""
    before = path.stat().st_mtime_ns
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(before + 2_000_000_000, before + 2_000_000_000))


# --- building and searching ----------------------------------------------------------------

def test_first_open_builds_everything(small_library: Library) -> None:
    assert small_library.rebuilt is True
    assert sorted(a.title for a in small_library.articles) == sorted([
        "DeepSeek，搅了谁的局？", "GPT4o生成的烂自拍，反而比我们更真实。",
        "美股兩周高 道指升342點 金龍指數續創4個月高", "Why Comcast Stock Lacks the Moat Charlie Munger Demands"])
    assert small_library.paragraph_count == sum(len(a.paragraphs) for a in small_library.articles)
    assert small_library.report.skipped == []


def test_readme_is_not_an_article(small_library: Library) -> None:
    assert all(not a.path.endswith("README.md") for a in small_library.articles)


def test_search_returns_passages_with_their_article(small_library: Library) -> None:
    passages = small_library.search(small_library.tokenizer("DeepSeek 训练成本"), 3)
    assert passages
    top = passages[0]
    assert top.article.title == "DeepSeek，搅了谁的局？"
    assert "557.6万美元" in top.paragraph.text
    assert top.score > 0
    assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)


def test_passage_numbers_run_article_after_article(small_library: Library) -> None:
    number = 0
    for article in small_library.articles:
        for paragraph in article.paragraphs:
            passage = small_library.passage(Hit(number, 1.0))
            assert passage.article is article
            assert passage.paragraph is paragraph
            number += 1


def test_paragraphs_are_found_by_their_heading_and_title(small_library: Library) -> None:
    passages = small_library.search(small_library.tokenizer("欲戴其冠"), 3)
    assert passages[0].paragraph.heading == "欲戴其冠，必承其重"


def test_article_paths_are_the_files_on_disk(small_library: Library, corpus_dir: Path) -> None:
    assert {Path(a.path) for a in small_library.articles} == {
        corpus_dir / "news/deepseek-iyiou.md", corpus_dir / "wechat/GPT4o生成的烂自拍.md",
        corpus_dir / "news/meigu.zh-HK.md", corpus_dir / "news/comcast.en.md"}


# --- the cache -----------------------------------------------------------------------------

def test_second_open_is_a_cache_hit_that_tokenizes_nothing(
        corpus_dir: Path, make_settings: Callable[..., Settings], counting: CountingTokenizer) -> None:
    settings = make_settings(corpus_dir)
    first = Library.open(settings, tokenizer=counting)
    calls = counting.calls
    second = Library.open(settings, tokenizer=counting)
    assert first.rebuilt is True
    assert second.rebuilt is False
    assert counting.calls == calls
    assert second.built_at == first.built_at
    assert [a.title for a in second.articles] == [a.title for a in first.articles]
    query = counting("DeepSeek 训练成本")
    assert second.index.search(query, 5) == first.index.search(query, 5)


def test_a_build_tokenizes_with_the_given_tokenizer(
        corpus_dir: Path, make_settings: Callable[..., Settings], counting: CountingTokenizer) -> None:
    Library.open(make_settings(corpus_dir), tokenizer=counting)
    assert counting.calls > 0


def test_cache_is_written_under_cache_dir_only(corpus_dir: Path, make_settings: Callable[..., Settings],
                                              tokenizer: Tokenizer) -> None:
    settings = make_settings(corpus_dir)
    before = sorted(p.relative_to(corpus_dir) for p in corpus_dir.rglob("*"))
    Library.open(settings, tokenizer=tokenizer)
    assert (cache_folder(settings) / "manifest.pkl").is_file()
    assert sorted(p.relative_to(corpus_dir) for p in corpus_dir.rglob("*")) == before


def test_changed_file_is_reindexed(corpus_dir: Path, make_settings: Callable[..., Settings],
                                   tokenizer: Tokenizer) -> None:
    settings = make_settings(corpus_dir)
    library = Library.open(settings, tokenizer=tokenizer)
    assert "Why Comcast Stock Lacks the Moat Charlie Munger Demands" in titles(library, "Comcast Munger")
    english = corpus_dir / "news/comcast.en.md"
    touch_later(english, english.read_text(encoding="utf-8")
                .replace("Comcast", "Verizon").replace("Charlie Munger", "Philip Fisher"))
    reopened = Library.open(settings, tokenizer=tokenizer)
    assert reopened.rebuilt is True
    assert titles(reopened, "Comcast Munger") == []
    assert titles(reopened, "Verizon Fisher") == ["Why Verizon Stock Lacks the Moat Philip Fisher Demands"]


def test_added_file_is_indexed(corpus_dir: Path, make_settings: Callable[..., Settings],
                               tokenizer: Tokenizer) -> None:
    settings = make_settings(corpus_dir)
    Library.open(settings, tokenizer=tokenizer)
    write_files(corpus_dir, {"news/new.md": "---\ntitle: 白尾雀鲷\n---\n\n" + LONG_PARAGRAPHS})
    reopened = Library.open(settings, tokenizer=tokenizer)
    assert reopened.rebuilt is True
    assert len(reopened.articles) == 5
    assert titles(reopened, "白尾雀鲷 珊瑚礁")[0] == "白尾雀鲷"


def test_deleted_file_is_forgotten(corpus_dir: Path, make_settings: Callable[..., Settings],
                                   tokenizer: Tokenizer) -> None:
    settings = make_settings(corpus_dir)
    Library.open(settings, tokenizer=tokenizer)
    (corpus_dir / "news/comcast.en.md").unlink()
    reopened = Library.open(settings, tokenizer=tokenizer)
    assert reopened.rebuilt is True
    assert len(reopened.articles) == 3
    assert titles(reopened, "Comcast Munger") == []


def all_paragraph_tokens(library: Library) -> list[list[str]]:
    return [tokens for a in library.articles for tokens in paragraph_tokens(library.tokenizer, a)]


def test_changed_bm25_settings_rescore_without_reindexing(
        corpus_dir: Path, make_settings: Callable[..., Settings], counting: CountingTokenizer) -> None:
    Library.open(make_settings(corpus_dir), tokenizer=counting)
    calls = counting.calls
    settings = make_settings(corpus_dir, k1=2.0, b=0.9)
    other = Library.open(settings, tokenizer=counting)
    assert other.rebuilt is False
    assert counting.calls == calls
    query = counting("DeepSeek 训练成本 Comcast")
    reference = ReferenceBM25(all_paragraph_tokens(other), k1=2.0, b=0.9)
    np.testing.assert_allclose(other.index.scores(query), reference.get_scores(query), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("delta_share", [DELTA_SHARE, 0], ids=["merged", "delta"])
def test_update_tokenizes_only_the_changed_file_and_equals_a_fresh_build(
        corpus_dir: Path, make_settings: Callable[..., Settings], counting: CountingTokenizer,
        tokenizer: Tokenizer, tmp_path: Path, delta_share: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Merged into one new index (this small corpus changes by more than 1/DELTA_SHARE) or kept as a
    delta (the old versions of the changed and deleted files are then tokenized again, from the
    article store, for the document frequencies they took with them): the same scores either way."""
    monkeypatch.setattr("bot.search.library.DELTA_SHARE", delta_share)
    settings = make_settings(corpus_dir)
    first = Library.open(settings, tokenizer=tokenizer)
    gone = [a for a in first.articles if Path(a.path).name in ("comcast.en.md", "meigu.zh-HK.md")]
    english = corpus_dir / "news/comcast.en.md"
    touch_later(english, english.read_text(encoding="utf-8").replace("Comcast", "Verizon"))
    (corpus_dir / "news/meigu.zh-HK.md").unlink()
    write_files(corpus_dir, {"news/new.md": "---\ntitle: 白尾雀鲷\n---\n\n" + LONG_PARAGRAPHS})
    updated = Library.open(settings, tokenizer=counting)
    expected = CountingTokenizer(tokenizer)
    for article in [*updated.articles[-2:], *(gone if delta_share == 0 else [])]:
        indexed(expected, article)
    assert [Path(a.path).name for a in updated.articles[-2:]] == ["comcast.en.md", "new.md"]
    assert counting.calls == expected.calls, "only the changed and the new file were tokenized"
    assert isinstance(updated.index, Segmented) == (delta_share == 0)
    fresh = Library.open(make_settings(corpus_dir, cache_dir=tmp_path / "fresh-cache"), tokenizer=tokenizer)
    assert sorted(a.path for a in updated.articles) == sorted(a.path for a in fresh.articles)
    for words in ("Verizon Munger", "白尾雀鲷 珊瑚礁", "DeepSeek 训练成本", "金龍指數"):
        query = tokenizer(words)
        got = [(p.article.path, p.paragraph.text, round(p.score, 4)) for p in updated.search(query, 5)]
        want = [(p.article.path, p.paragraph.text, round(p.score, 4)) for p in fresh.search(query, 5)]
        assert got == want, words
    reference = ReferenceBM25(all_paragraph_tokens(updated), k1=settings.k1, b=settings.b)
    query = tokenizer("Verizon 白尾雀鲷 DeepSeek")
    np.testing.assert_allclose(updated.index.scores(query), reference.get_scores(query), rtol=1e-4, atol=1e-5)


def test_successive_updates_keep_one_delta_until_it_outgrows_its_share(
        corpus_dir: Path, make_settings: Callable[..., Settings], tokenizer: Tokenizer, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Edits of base files, of files already in the delta, new and deleted files: each update rewrites
    only the delta, scores stay rank-bm25's over the whole collection, and the update that takes the
    delta past its share merges it into one new index."""
    monkeypatch.setattr("bot.search.library.DELTA_SHARE", 0)
    settings = make_settings(corpus_dir)
    Library.open(settings, tokenizer=tokenizer)
    cache = cache_folder(settings)
    (base,) = cache.glob("index-*")
    english = corpus_dir / "news/comcast.en.md"
    edits: list[Callable[[], object]] = [
        lambda: touch_later(english, english.read_text(encoding="utf-8").replace("Comcast", "Verizon")),
        lambda: write_files(corpus_dir, {"news/new.md": "---\ntitle: 白尾雀鲷\n---\n\n" + LONG_PARAGRAPHS}),
        lambda: touch_later(english, english.read_text(encoding="utf-8").replace("Munger", "Buffett")),
        lambda: (corpus_dir / "news/new.md").unlink(),
        lambda: (corpus_dir / "news/meigu.zh-HK.md").unlink(),
    ]
    query = tokenizer("Verizon Buffett 白尾雀鲷 DeepSeek 训练成本 金龍指數")
    for number, edit in enumerate(edits):
        edit()
        updated = Library.open(settings, tokenizer=tokenizer)
        assert isinstance(updated.index, Segmented), number
        assert [f.name for f in cache.glob("index-*")] == [base.name] and len(list(cache.glob("delta-*"))) == 1
        fresh = Library.open(make_settings(corpus_dir, cache_dir=tmp_path / f"fresh-{number}"), tokenizer=tokenizer)
        assert [a.path for a in updated.articles] == [a.path for a in updated.articles]
        assert sorted(a.path for a in updated.articles) == sorted(a.path for a in fresh.articles)
        reference = ReferenceBM25(all_paragraph_tokens(updated), k1=settings.k1, b=settings.b)
        np.testing.assert_allclose(updated.index.scores(query), reference.get_scores(query), rtol=1e-4, atol=1e-5)
        got = [(p.article.path, p.paragraph.text, round(p.score, 4)) for p in updated.search(query, 8)]
        want = [(p.article.path, p.paragraph.text, round(p.score, 4)) for p in fresh.search(query, 8)]
        assert got == want, number
        reopened = Library.open(settings, tokenizer=tokenizer)
        assert reopened.rebuilt is False and isinstance(reopened.index, Segmented)
        with sqlite3.connect(cache / "articles.sqlite") as db:
            rows = db.execute("SELECT count(*) FROM articles").fetchone()[0]
        db.close()
        assert rows <= len(updated.articles) + 2, "old versions are deleted one update late, not kept for ever"
        assert [(h.paragraph, h.score) for h in reopened.index.search(query, 8)] == \
            [(h.paragraph, h.score) for h in updated.index.search(query, 8)]
    monkeypatch.setattr("bot.search.library.DELTA_SHARE", 1_000_000)
    touch_later(english, english.read_text(encoding="utf-8").replace("Verizon", "AT&T"))
    merged = Library.open(settings, tokenizer=tokenizer)
    assert not isinstance(merged.index, Segmented)
    assert len(list(cache.glob("index-*"))) == 1 and not list(cache.glob("delta-*"))
    reference = ReferenceBM25(all_paragraph_tokens(merged), k1=settings.k1, b=settings.b)
    np.testing.assert_allclose(merged.index.scores(query), reference.get_scores(query), rtol=1e-4, atol=1e-5)
    assert titles(merged, "AT&T")


@pytest.mark.parametrize("delta_share", [DELTA_SHARE, 0], ids=["merged", "delta"])
def test_an_update_counts_only_the_changed_articles_lines_and_finds_the_same_boilerplate(
        tmp_path: Path, tokenizer: Tokenizer, monkeypatch: pytest.MonkeyPatch, delta_share: int) -> None:
    """Edits, additions and deletions that leave every line on its side of MIN_ARTICLES adjust the line
    counts of those articles only; a line that reaches it has every article counted again. Either way
    the boilerplate and the muted paragraphs are a fresh build's."""
    from test_boilerplate import DISCLAIMER, FACTS, SIGN_OFF, news_site, write

    monkeypatch.setattr("bot.search.library.DELTA_SHARE", delta_share)
    folder = news_site(tmp_path, signed=2)
    settings = Settings(corpus=(folder,), cache_dir=tmp_path / "cache", workers=1)
    Library.open(settings, tokenizer=tokenizer)
    counted: list[int] = []
    found = Boilerplate.found.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(Boilerplate, "found", classmethod(lambda cls, lines, starts: counted.append(len(lines))
                                                          or found(cls, lines, starts)))
    steps: list[tuple[Callable[[], object], bool]] = [
        (lambda: touch_later(folder / "3.md", (folder / "3.md").read_text(encoding="utf-8").replace("比亚迪", "蔚来")), False),
        (lambda: write(folder, "4.md", "新闻", f"{FACTS[0][1]}\n\n{DISCLAIMER}", "https://wallstreetcn.com/articles/9"), False),
        (lambda: (folder / "0.md").unlink(), False),
        (lambda: [touch_later(folder / f"{i}.md", (folder / f"{i}.md").read_text(encoding="utf-8").replace(
            "\n\n风险", f"{SIGN_OFF}\n\n风险")) for i in (2, 3)], True),
    ]
    for number, (step, counts_all) in enumerate(steps):
        step()
        counted.clear()
        updated = Library.open(settings, tokenizer=tokenizer)
        assert bool(counted) == counts_all, number
        fresh = Library.open(Settings(corpus=(folder,), cache_dir=tmp_path / f"fresh-{number}", workers=1),
                             tokenizer=tokenizer)
        assert updated.boilerplate.prints == fresh.boilerplate.prints, number
        by_text = {(p.article.path, p.paragraph.text) for p in (updated.passage(Hit(int(i), 0)) for i in updated.boilerplate.muted)}
        assert by_text == {(p.article.path, p.paragraph.text) for p in (fresh.passage(Hit(int(i), 0))
                                                                         for i in fresh.boilerplate.muted)}, number
        assert len(updated.boilerplate.muted) == len(fresh.boilerplate.muted) > 0
        reopened = Library.open(settings, tokenizer=tokenizer)
        assert reopened.boilerplate.muted.tolist() == updated.boilerplate.muted.tolist()


def test_an_update_keeps_the_index_being_served_readable(
        corpus_dir: Path, make_settings: Callable[..., Settings], tokenizer: Tokenizer) -> None:
    """A bot serving the old library while the corpus is re-indexed keeps answering from it."""
    settings = make_settings(corpus_dir)
    serving = Library.open(settings, tokenizer=tokenizer)
    before = [(p.article.title, p.paragraph.text) for p in serving.search(tokenizer("Comcast Munger"), 3)]
    english = corpus_dir / "news/comcast.en.md"
    touch_later(english, english.read_text(encoding="utf-8").replace("Comcast", "Verizon"))
    Library.open(settings, tokenizer=tokenizer)
    fresh_view = Library.open(settings, tokenizer=tokenizer)
    assert fresh_view.rebuilt is False
    assert [(p.article.title, p.paragraph.text) for p in serving.search(tokenizer("Comcast Munger"), 3)] == before


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 3])


def index_folder(cache: Path) -> Path:
    (folder,) = cache.glob("index-*")
    return folder


def drop_articles(cache: Path) -> None:
    with sqlite3.connect(cache / "articles.sqlite") as db:
        db.execute("DELETE FROM articles WHERE rowid % 2 = 0")
    db.close()


CORRUPTIONS: list[object] = [
    pytest.param(lambda f: (f / "manifest.pkl").write_bytes(b"garbage"), id="manifest-garbage"),
    pytest.param(lambda f: (f / "manifest.pkl").write_bytes(b""), id="manifest-empty"),
    pytest.param(lambda f: (f / "manifest.pkl").unlink(), id="manifest-missing"),
    pytest.param(lambda f: (f / "manifest.pkl").write_bytes(pickle.dumps([])), id="manifest-list"),
    pytest.param(lambda f: truncate(f / "manifest.pkl"), id="manifest-truncated"),
    pytest.param(lambda f: (index_folder(f) / "tfs.npy").write_bytes(b"garbage"), id="tfs-garbage"),
    pytest.param(lambda f: truncate(index_folder(f) / "doc_ids.npy"), id="doc-ids-truncated"),
    pytest.param(lambda f: (index_folder(f) / "offsets.npy").unlink(), id="offsets-missing"),
    pytest.param(lambda f: (index_folder(f) / "terms.txt").write_bytes(b"{{"), id="terms-garbage"),
    pytest.param(lambda f: (index_folder(f) / "terms.txt").unlink(), id="terms-missing"),
    pytest.param(lambda f: (index_folder(f) / "terms.txt").write_text(
        "\n".join(reversed((index_folder(f) / "terms.txt").read_text().split("\n")))), id="terms-out-of-order"),
    pytest.param(lambda f: (index_folder(f) / "params.json").write_text("{"), id="params-garbage"),
    pytest.param(lambda f: shutil.rmtree(index_folder(f)), id="index-folder-missing"),
    pytest.param(lambda f: (f / "articles.sqlite").write_bytes(b"garbage" * 100), id="articles-garbage"),
    pytest.param(lambda f: (f / "articles.sqlite").unlink(), id="articles-missing"),
    pytest.param(drop_articles, id="articles-rows-missing"),
]


@pytest.mark.parametrize("corrupt", CORRUPTIONS)
def test_corrupt_cache_is_rebuilt_never_a_crash_and_says_why(corrupt: Callable[[Path], object], corpus_dir: Path,
                                                             make_settings: Callable[..., Settings],
                                                             tokenizer: Tokenizer,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings(corpus_dir)
    expected = [a.title for a in Library.open(settings, tokenizer=tokenizer).articles]
    corrupt(cache_folder(settings))
    with caplog.at_level(logging.INFO, logger="bot.search.library"):
        reopened = Library.open(settings, tokenizer=tokenizer)
    assert reopened.rebuilt is True
    assert any(("rebuilding" in r.message or "again" in r.message) and r.levelno >= logging.INFO
               for r in caplog.records), "a rebuild must say why"
    assert [a.title for a in reopened.articles] == expected
    assert titles(reopened, "DeepSeek 训练成本")[0] == "DeepSeek，搅了谁的局？"
    assert Library.open(settings, tokenizer=tokenizer).rebuilt is False


DELTA_CORRUPTIONS: list[object] = [
    pytest.param(lambda f: (delta_folder(f) / "deleted.npy").write_bytes(b"garbage"), id="deleted-garbage"),
    pytest.param(lambda f: np.save(delta_folder(f) / "deleted.npy", np.asarray([10 ** 9])), id="deleted-out-of-range"),
    pytest.param(lambda f: (delta_folder(f) / "base_ids.npy").unlink(), id="base-ids-missing"),
    pytest.param(lambda f: truncate(delta_folder(f) / "doc_ids.npy"), id="delta-doc-ids-truncated"),
    pytest.param(lambda f: shutil.rmtree(delta_folder(f)), id="delta-folder-missing"),
]


def delta_folder(cache: Path) -> Path:
    (folder,) = cache.glob("delta-*")
    return folder


@pytest.mark.parametrize("corrupt", DELTA_CORRUPTIONS)
def test_a_corrupt_delta_is_rebuilt_never_a_crash_and_says_why(
        corrupt: Callable[[Path], object], corpus_dir: Path, make_settings: Callable[..., Settings],
        tokenizer: Tokenizer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.search.library.DELTA_SHARE", 0)
    settings = make_settings(corpus_dir)
    Library.open(settings, tokenizer=tokenizer)
    english = corpus_dir / "news/comcast.en.md"
    touch_later(english, english.read_text(encoding="utf-8").replace("Comcast", "Verizon"))
    expected = [a.title for a in Library.open(settings, tokenizer=tokenizer).articles]
    corrupt(cache_folder(settings))
    with caplog.at_level(logging.INFO, logger="bot.search.library"):
        reopened = Library.open(settings, tokenizer=tokenizer)
    assert reopened.rebuilt is True
    assert any("rebuilding" in r.message or "again" in r.message for r in caplog.records), "a rebuild must say why"
    assert sorted(a.title for a in reopened.articles) == sorted(expected)
    assert titles(reopened, "Verizon")
    assert Library.open(settings, tokenizer=tokenizer).rebuilt is False


# --- bad files -----------------------------------------------------------------------------

BAD_FILES: dict[str, str | bytes] = {
    "bad/broken-yaml.md": "---\ntitle: ok\ntags: [a, b\n---\n\n正文。\n",
    "bad/never-closed.md": "---\ntitle: 没有结束\n\n正文。\n",
    "bad/list-front-matter.md": "---\n- a\n- b\n---\n\n正文。\n",
    "bad/binary.md": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
    "bad/gbk.md": "---\ntitle: x\n---\n\n".encode() + "不是UTF-8的文字\n".encode("gbk"),
    "bad/empty-body.md": "---\ntitle: 空的\n---\n\n",
    "bad/huge.md": "---\ntitle: 大\n---\n\n" + "很长的文章。" * 200_000,
    "ok/no-front-matter.md": "# 没有前言的文章\n\n" + LONG_PARAGRAPHS,
}
BAD_REASONS = {
    "broken-yaml.md": "not valid YAML",
    "never-closed.md": "never ends",
    "list-front-matter.md": "not a 'key: value' mapping",
    "binary.md": "binary",
    "gbk.md": "not UTF-8",
    "empty-body.md": "no text",
    "huge.md": "limit",
}


@pytest.fixture
def messy_corpus(corpus_dir: Path) -> Path:
    write_files(corpus_dir, BAD_FILES)
    (corpus_dir / "empty-folder").mkdir()
    return corpus_dir


def test_open_over_bad_files_never_raises_and_lists_each_with_its_reason(
        messy_corpus: Path, make_settings: Callable[..., Settings], tokenizer: Tokenizer,
        tmp_path: Path) -> None:
    settings = make_settings(messy_corpus, messy_corpus / "empty-folder", tmp_path / "missing",
                             max_file_mb=1.0)
    library = Library.open(settings, tokenizer=tokenizer)
    skipped = {error.path.name: error.reason for error in library.report.skipped}
    for name, reason in BAD_REASONS.items():
        assert reason in skipped.pop(name), name
    assert "not a folder" in skipped.pop("missing")
    assert skipped == {}
    assert [n.path for n in library.report.notices] == [messy_corpus / "empty-folder"]
    assert len(library.articles) == 5
    assert "没有前言的文章" in [a.title for a in library.articles]


def test_skipped_files_with_lines_keep_them(messy_corpus: Path, make_settings: Callable[..., Settings],
                                           tokenizer: Tokenizer) -> None:
    library = Library.open(make_settings(messy_corpus, max_file_mb=1.0), tokenizer=tokenizer)
    lines = {error.path.name: error.line for error in library.report.skipped}
    assert lines["gbk.md"] == 5
    assert lines["never-closed.md"] == 1
    assert lines["broken-yaml.md"] is not None


def test_cache_hit_reports_each_skipped_file_once(messy_corpus: Path, make_settings: Callable[..., Settings],
                                                  tokenizer: Tokenizer, tmp_path: Path) -> None:
    settings = make_settings(messy_corpus, messy_corpus / "empty-folder", tmp_path / "missing",
                             max_file_mb=1.0)
    first = Library.open(settings, tokenizer=tokenizer)
    second = Library.open(settings, tokenizer=tokenizer)
    assert second.rebuilt is False
    assert [str(e) for e in second.report.skipped] == [str(e) for e in first.report.skipped]
    assert [str(e) for e in second.report.notices] == [str(e) for e in first.report.notices]


def test_cache_hit_still_lists_skipped_files(messy_corpus: Path, make_settings: Callable[..., Settings],
                                            tokenizer: Tokenizer) -> None:
    settings = make_settings(messy_corpus, max_file_mb=1.0)
    first = Library.open(settings, tokenizer=tokenizer)
    second = Library.open(settings, tokenizer=tokenizer)
    assert second.rebuilt is False
    assert {str(e) for e in second.report.skipped} == {str(e) for e in first.report.skipped}
    assert len(second.report.skipped) == len(BAD_REASONS)


def test_only_missing_folders_give_an_empty_library(tmp_path: Path, make_settings: Callable[..., Settings],
                                                    tokenizer: Tokenizer) -> None:
    library = Library.open(make_settings(tmp_path / "nowhere"), tokenizer=tokenizer)
    assert len(library.articles) == 0
    assert library.paragraph_count == 0
    assert library.search(tokenizer("DeepSeek"), 3) == []
    assert "not a folder" in library.report.skipped[0].reason


def test_two_processes_updating_at_once_leave_one_sound_cache(
        corpus_dir: Path, make_settings: Callable[..., Settings], tokenizer: Tokenizer) -> None:
    """The bot re-indexing while an editor runs `articlebot index`: one builds, the other reuses it."""
    settings = make_settings(corpus_dir)
    Library.open(settings, tokenizer=tokenizer)
    write_files(corpus_dir, {"news/new.md": "---\ntitle: 白尾雀鲷\n---\n\n" + LONG_PARAGRAPHS})
    script = ("import sys; from pathlib import Path; from bot.config import Settings; from bot.search.library import Library;"
              f"lib = Library.open(Settings(corpus=(Path({str(corpus_dir)!r}),), cache_dir=Path({str(settings.cache_dir)!r})));"
              "print(len(lib.articles), lib.rebuilt)")
    runs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = sorted(run.communicate(timeout=120)[0].split() for run in runs)
    assert [o[0] for o in outputs] == ["5", "5"]
    assert sorted(o[1] for o in outputs) == ["False", "True"], "exactly one of them re-indexed"
    reopened = Library.open(settings, tokenizer=tokenizer)
    assert reopened.rebuilt is False
    assert titles(reopened, "白尾雀鲷 珊瑚礁")[0] == "白尾雀鲷"
    assert len(list(cache_folder(settings).glob("index-*"))) == 1


def test_tag_counts_come_from_the_manifest_without_reading_articles(
        corpus_dir: Path, make_settings: Callable[..., Settings], tokenizer: Tokenizer) -> None:
    settings = make_settings(corpus_dir)
    built = Library.open(settings, tokenizer=tokenizer)
    expected = Counter(tag for a in built.articles for tag in a.tags)
    loaded = Library.open(settings, tokenizer=tokenizer)
    assert loaded.tag_counts == expected and expected
    assert loaded.articles._recent == {} and loaded.articles._all is None, "no article was read"


BUILD_WHILE_WARMING = """
import sys
import time
from pathlib import Path
from bot.cli import open_library
from bot.config import Settings

corpus, caches = Path(sys.argv[1]), Path(sys.argv[2])
for attempt in range(int(sys.argv[3])):
    # open_library warms jieba in a thread while it starts the tokenizing pool: the race that hung.
    library = open_library(Settings(corpus=(corpus,), cache_dir=caches / str(attempt), workers=2), quiet=True)
    assert library.rebuilt and len(library.articles) == int(sys.argv[4]), len(library.articles)
print("built", sys.argv[3], "times")
"""


def test_cold_builds_never_hang_while_jieba_warms_up(tmp_path: Path) -> None:
    """Workers start from a fresh process, never a fork of one whose warming thread holds a lock."""
    files = {f"article-{i:03}.md": f"---\ntitle: 第{i}篇\n---\n\n{LONG_PARAGRAPHS}\n\n编号 {i} 的附注。\n"
             for i in range(80)}  # enough files for the build to use worker processes
    corpus = write_files(tmp_path / "corpus", files)
    result = subprocess.run([sys.executable, "-c", BUILD_WHILE_WARMING, str(corpus), str(tmp_path / "caches"),
                             "6", str(len(files))], capture_output=True, text=True, timeout=150,
                            cwd=Path(__file__).parents[1])
    assert result.returncode == 0, result.stderr
    assert "built 6 times" in result.stdout


# --- Hugo sites: what is left out, and what changes without the page itself changing ----------------

def hugo_corpus(root: Path, extra: dict[str, str] | None = None) -> Path:
    files = {
        "hugo.yaml": "baseURL: https://site.example/\n"
                     "cascade:\n  - build: {render: never}\n    target: {path: '{,/**}/_includes{,/**}'}\n",
        "content/post/a.md": f"---\ntitle: A\n---\n\n{LONG_PARAGRAPHS}\n\n{{{{% include \"note.md\" %}}}}\n",
        "content/post/_includes/note.md": "珊瑚礁的夜间观察记录显示，雀鲷会在月圆之夜集体产卵。\n",
        "content/post/draft.md": f"---\ntitle: D\ndraft: true\n---\n\n{LONG_PARAGRAPHS}\n",
        "content/post/bundle/index.md": f"---\ntitle: B\n---\n\n{LONG_PARAGRAPHS}\n",
        "content/post/bundle/part.md": "A resource of the bundle, not a page.\n",
        "content/docs/_index.md": "---\ntitle: Docs\ncascade:\n  draft: false\n---\n",
        "content/docs/guide.md": f"---\ntitle: Guide\n---\n\n{LONG_PARAGRAPHS}\n",
    }
    return write_files(root, {**files, **(extra or {})})


def test_a_site_lists_what_it_leaves_out_by_kind(tmp_path: Path, make_settings: Callable[..., Settings],
                                                 tokenizer: Tokenizer) -> None:
    library = Library.open(make_settings(hugo_corpus(tmp_path / "site")), tokenizer=tokenizer)
    kinds = {error.path.name: error.kind for error in library.report.skipped}
    assert kinds == {"draft.md": "draft", "part.md": "resource", "note.md": "unrendered", "_index.md": "empty"}
    assert sorted(a.title for a in library.articles) == ["A", "B", "Guide"]
    assert all(a.source_url and a.source_url.startswith("https://site.example/") for a in library.articles)
    again = Library.open(make_settings(tmp_path / "site"), tokenizer=tokenizer)
    assert not again.rebuilt
    assert {e.path.name: e.kind for e in again.report.skipped} == kinds


def test_editing_an_included_file_re_reads_the_pages_that_include_it(
        tmp_path: Path, make_settings: Callable[..., Settings], tokenizer: Tokenizer) -> None:
    root = hugo_corpus(tmp_path / "site")
    settings = make_settings(root)
    first = Library.open(settings, tokenizer=tokenizer)
    assert titles(first, "月圆之夜") == ["A"]
    (root / "content/post/_includes/note.md").write_text("新的记录：海葵在退潮时会收起触手。\n", encoding="utf-8")
    second = Library.open(settings, tokenizer=tokenizer)
    assert second.rebuilt
    assert titles(second, "海葵 退潮") == ["A"]
    assert titles(second, "月圆之夜") == []


def test_a_cascade_change_re_reads_the_pages_below_it(
        tmp_path: Path, make_settings: Callable[..., Settings], tokenizer: Tokenizer) -> None:
    root = hugo_corpus(tmp_path / "site")
    settings = make_settings(root)
    assert "Guide" in [a.title for a in Library.open(settings, tokenizer=tokenizer).articles]
    (root / "content/docs/_index.md").write_text("---\ntitle: Docs\ncascade:\n  draft: true\n---\n", encoding="utf-8")
    after = Library.open(settings, tokenizer=tokenizer)
    assert "Guide" not in [a.title for a in after.articles]
    assert {e.path.name: e.kind for e in after.report.skipped}["guide.md"] == "draft"


def test_a_future_page_is_indexed_once_its_time_comes_without_any_file_changing(
        tmp_path: Path, make_settings: Callable[..., Settings], tokenizer: Tokenizer) -> None:
    soon = time.time() + 2
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(soon + 1))
    root = hugo_corpus(tmp_path / "site", {"content/post/soon.md": f"---\ntitle: Soon\ndate: {when}\n---\n\n"
                                                                   f"{LONG_PARAGRAPHS}\n"})
    settings = make_settings(root)
    before = Library.open(settings, tokenizer=tokenizer)
    assert "Soon" not in [a.title for a in before.articles]
    assert {e.path.name: e.kind for e in before.report.skipped}["soon.md"] == "future"
    assert not Library.open(settings, tokenizer=tokenizer).rebuilt  # nothing due yet
    time.sleep(max(0.0, soon + 1.5 - time.time()))
    after = Library.open(settings, tokenizer=tokenizer)
    assert after.rebuilt and "Soon" in [a.title for a in after.articles]


def test_workers_numbering_terms_their_own_way_build_the_reference_index(
        tmp_path: Path, make_settings: Callable[..., Settings], tokenizer: Tokenizer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each worker numbers the terms it spells to the parent, and starts a new numbering past a limit
    (300 terms here, so every worker goes through several); the parent maps their numbers to its own.
    The index is the one rank-bm25 makes of the same tokens, paragraph for paragraph."""
    monkeypatch.setattr("bot.search.library.VOCABULARY_LIMIT", 300)
    root = Path(__file__).parents[1] / "corpus"
    sources = [path for path in sorted(root.rglob("*.md")) if path.name != "README.md"]
    corpus = tmp_path / "many"
    for copy in range(3):  # enough files for the build to start its worker processes
        for path in sources:
            target = corpus / f"{copy}" / path.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(path.read_text(encoding="utf-8") + f"\n\n第{copy}份副本。\n", encoding="utf-8")
    settings = make_settings(corpus, workers=2)
    library = Library.open(settings, tokenizer=tokenizer)
    assert len(library.articles) == 3 * len(sources) >= 64
    reference = ReferenceBM25(all_paragraph_tokens(library), k1=settings.k1, b=settings.b)
    for words in ("DeepSeek 训练成本", "第1份 Comcast revenue", "金龍指數 第2份", "白尾雀鲷"):
        query = tokenizer(words)
        np.testing.assert_allclose(library.index.scores(query), reference.get_scores(query), rtol=1e-4, atol=1e-5)
    assert sorted(library.index.terms) == sorted({t for doc in all_paragraph_tokens(library) for t in doc})


def test_a_vocabulary_spells_each_term_once_and_starts_anew_past_its_limit(tokenizer: Tokenizer) -> None:
    from bot.search.articles import load_article, read_text

    path = Path(__file__).parents[1] / "corpus" / "news" / "063137e030b03e2388275f75d87b1bcc.zh-CN.md"
    article = load_article(path, read_text(path, 10**7))
    _, alone = indexed(tokenizer, article)
    vocabulary = Vocabulary(limit=10**6)
    _, first = indexed(tokenizer, article, vocabulary)
    _, again = indexed(tokenizer, article, vocabulary)
    assert (first.terms, first.ids.tolist(), first.first) == (alone.terms, alone.ids.tolist(), 0)
    assert first.source is not None and alone.source is None
    assert again.terms == () and again.first == len(first.terms) and again.source == first.source
    assert again.ids.tolist() == first.ids.tolist()
    small = Vocabulary(limit=5)
    _, one = indexed(tokenizer, article, small)
    _, other = indexed(tokenizer, article, small)
    assert other.source != one.source and other.first == 0 and other.terms == one.terms


def test_indexed_tokens_are_the_reference_tokens_as_numbers(tokenizer: Tokenizer) -> None:
    """The build's per-file path (one normalisation, numpy bigrams, ids) makes each paragraph's bag of
    tokens exactly as ``paragraph_tokens`` does paragraph by paragraph; and the same folded sentences."""
    from bot.search.articles import load_article, read_text
    from bot.search.markup import sentence_spans
    from bot.search.site import open_site

    root = Path(__file__).parents[1] / "corpus"
    site = open_site(root)
    articles = [load_article(path, read_text(path, 10**7), site=site)
                for path in sorted(root.rglob("*.md")) if path.name != "README.md"]
    odd = replace(articles[0], title="DeepSeek-V3 的\x00标题 3,870.08 14bn 一一一好")  # the separator in a title
    for article in [*articles, odd]:
        folded, encoded = indexed(tokenizer, article)
        starts = np.concatenate(([0], np.cumsum(encoded.lengths)))
        got = [Counter(encoded.terms[i] for i in encoded.ids[a:b]) for a, b in zip(starts[:-1], starts[1:])]
        assert got == [Counter(tokens) for tokens in paragraph_tokens(tokenizer, article)], article.path
        for before, after in zip(article.paragraphs, folded.paragraphs):
            spans = sentence_spans(before.text)
            assert after.folded == tuple(tokenizer.normalize(before.text[a:b]) for a, b in spans)
