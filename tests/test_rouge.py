"""Specification of bot/rouge.py: ROUGE-1/2/L on characters (Chinese) or words (English), checked
by hand, and the summary benchmark over a folder of articles with 摘要 sections."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.config import Settings
from bot.search.library import Library
from bot.summaries.catalog import Summarizer
from bot.summaries.rouge import (
    READABILITY_CHECKS,
    evaluate_summaries,
    file_half,
    lcs_length,
    load_samples,
    readability,
    readability_table,
    reference_text,
    rouge,
    rouge_l,
    rouge_n,
    rouge_units,
    sentence_problems,
    split_abstract,
)


def test_chinese_is_scored_on_characters_by_hand() -> None:
    # candidate 我爱北京天安门 → 7 characters; reference 我爱北京，北京欢迎你 → 9 (the comma is dropped).
    # ROUGE-1: shared 我 爱 北 京 (北 and 京 twice in the reference, once in the candidate) = 4;
    #   P = 4/7, R = 4/9, F1 = 2·(4/7)(4/9) / (4/7 + 4/9) = (32/63) / (64/63) = 0.5.
    # ROUGE-2: candidate pairs 我爱 爱北 北京 京天 天安 安门 (6); reference 我爱 爱北 北京 京北 北京 京欢 欢迎 迎你 (8);
    #   shared 我爱 爱北 北京 = 3; P = 3/6, R = 3/8, F1 = 2·(1/2)(3/8) / (1/2 + 3/8) = (3/8) / (7/8) = 3/7.
    # ROUGE-L: longest common subsequence 我爱北京 = 4; P = 4/7, R = 4/9, F1 = 0.5.
    candidate, reference = "我爱北京天安门", "我爱北京，北京欢迎你"
    assert rouge_units(reference) == list("我爱北京北京欢迎你")
    one = rouge_n(candidate, reference, 1)
    assert (one.precision, one.recall, one.f1) == pytest.approx((4 / 7, 4 / 9, 0.5))
    assert rouge_n(candidate, reference, 2).f1 == pytest.approx(3 / 7)
    assert rouge_l(candidate, reference).f1 == pytest.approx(0.5)
    assert rouge(candidate, reference) == pytest.approx({"rouge1": 0.5, "rouge2": 3 / 7, "rougeL": 0.5})


def test_english_is_scored_on_words_by_hand() -> None:
    # the cat sat on the mat / the cat is on the mat: 6 words each.
    # ROUGE-1: the ×2, cat, on, mat = 5 shared → P = R = F1 = 5/6.
    # ROUGE-2: shared "the cat", "on the", "the mat" = 3 of 5 pairs each side → 3/5.
    # ROUGE-L: the cat on the mat = 5 → 5/6.
    scores = rouge("The cat sat on the mat.", "the cat is on the mat")
    assert scores == pytest.approx({"rouge1": 5 / 6, "rouge2": 3 / 5, "rougeL": 5 / 6})


def test_whitespace_punctuation_and_symbols_earn_nothing() -> None:
    assert rouge("你好，世界！", "你好 世界") == pytest.approx({"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0})
    assert rouge("。。。", "你好") == {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    assert rouge("", "") == {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}


def test_the_reference_decides_the_units() -> None:
    """An English quote in a summary of a Chinese reference is still compared letter by letter."""
    assert rouge_n("DeepSeek", "DeepSeek发布新模型", 1).precision == 1.0


def _lcs_table(a: list[str], b: list[str]) -> int:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            table[i + 1][j + 1] = table[i][j] + 1 if x == y else max(table[i][j + 1], table[i + 1][j])
    return table[-1][-1]


@given(st.lists(st.sampled_from("abcde"), max_size=40), st.lists(st.sampled_from("abcde"), max_size=40))
def test_bit_parallel_lcs_matches_the_textbook_table(a: list[str], b: list[str]) -> None:
    assert lcs_length(a, b) == _lcs_table(a, b)


# --- the benchmark ---------------------------------------------------------------------------

def _wechat(title: str, abstract: str, body: list[str], sub_headings: bool = False) -> str:
    label = "### 1) 一句话总结" if sub_headings else "**1) 一句话总结**"
    paragraphs = "\n\n".join(body)
    return textwrap.dedent(f"""\
        ---
        title: "{title}"
        发布日期: 2025-04-30
        ---

        ## 摘要

        {label}
        {abstract}

        ## 正文

        """) + paragraphs + "\n\n## 关联主题\n\n- [[00-元语/AI]]\n"


FOLDER_ARTICLES = {
    f"post{i}.md": _wechat(
        f"第{i}篇：模型{i}发布",
        f"公司发布了第{i}代模型，推理速度提升{i}倍，价格下降一半。",
        [f"今天公司发布了第{i}代模型，这是今年最重要的一次更新。",
         f"官方数据显示，第{i}代模型的推理速度提升了{i}倍，价格下降了一半。",
         "我个人觉得这次更新非常有诚意，大家可以去试一试。"],
        sub_headings=i % 2 == 0)
    for i in range(1, 7)
}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in FOLDER_ARTICLES.items():
        (corpus / name).write_text(text, encoding="utf-8")
    (corpus / "images-only.md").write_text(_wechat("只有图片", "招聘公告。", ["![](https://x.test/a.png)"]),
                                           encoding="utf-8")
    return corpus


def test_the_summary_section_is_cut_out_with_its_sub_headings() -> None:
    body, abstract = split_abstract(FOLDER_ARTICLES["post2.md"])
    assert "## 摘要" not in body and "一句话总结" not in body and "## 正文" in body
    assert reference_text(abstract) == "1) 一句话总结\n公司发布了第2代模型，推理速度提升2倍，价格下降一半。"
    assert split_abstract("no section\n\ntext") == ("no section\n\ntext", "")


def test_samples_are_parsed_without_their_summary(folder: Path) -> None:
    samples = load_samples(folder)
    assert len(samples) == 6, "the images-only post has no body left and is skipped"
    for sample in samples:
        assert sample.article.abstract is None
        assert all("一句话总结" not in p.text for p in sample.article.paragraphs)


def test_evaluate_summaries_scores_every_system_on_the_same_articles(folder: Path, tmp_path: Path) -> None:
    library = Library.open(Settings(corpus=(folder,), cache_dir=tmp_path / "cache", workers=1))
    result = evaluate_summaries(folder, 40, systems=("articlebot", "articlebot-nostyle", "lead"), library=library)
    assert (result["articles"], result["budget"], result["half"]) == (6, 40, "all")
    assert set(result["systems"]) == {"articlebot", "articlebot-nostyle", "lead"}
    for scores in result["systems"].values():
        assert set(scores) == {"rouge1", "rouge2", "rougeL"}
        assert all(0.0 < value <= 1.0 for value in scores.values())
    half = evaluate_summaries(folder, 40, systems=("lead",), half="a", library=library)
    assert half["articles"] == sum(1 for name in FOLDER_ARTICLES if file_half(name) == "a")


def test_missing_sumy_leaves_its_systems_out_with_a_note(folder: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sumy", None)
    library = Library.open(Settings(corpus=(folder,), cache_dir=tmp_path / "cache", workers=1))
    result = evaluate_summaries(folder, 40, systems=("lead", "textrank"), library=library)
    assert set(result["systems"]) == {"lead"}
    assert result["notes"] == ["textrank: left out (pip install sumy)"]


def test_an_unknown_system_is_an_error(folder: Path) -> None:
    with pytest.raises(ValueError, match="unknown summary system"):
        evaluate_summaries(folder, 40, systems=("gpt",))


def test_halves_are_fixed_by_file_name() -> None:
    assert {file_half(f"post{i}.md") for i in range(20)} == {"a", "b"}
    assert file_half("/some/where/post1.md") == file_half("post1.md")


# --- readability ------------------------------------------------------------------------------

@pytest.mark.parametrize(("sentence", "after", "before", "repeated", "expected"), [
    ("DeepSeek发布了新的推理模型，价格下降一半。", False, False, False, []),
    ("你现在想做 CEO 了吗？", False, True, False, ["question"]),
    ("但在海外，泡泡玛特反而赌赢得很快。", False, False, False, ["opens_pointing_back", "points_back_alone"]),
    ("但在海外，泡泡玛特反而赌赢得很快。", True, False, False, ["opens_pointing_back"]),
    ("However, the bill still needs a vote in the House.", False, False, False,
     ["opens_pointing_back", "points_back_alone"]),
    ("DeepSeek在技术论文中已经有过回应：", False, False, False, ["ends_leading_on", "left_hanging"]),
    ("DeepSeek在技术论文中已经有过回应：", False, True, False, ["ends_leading_on"]),
    ("立即试用EJFQ「信号」全方位股票分析系统，运用100+选股条件", False, False, False, ["site_text"]),
    ("华为观察家每周与您聊华为新机。", False, False, True, ["site_text"]),
    ("晚安。", False, False, False, ["site_text", "fragment"]),
    ("涨了三成。", False, False, False, ["fragment"]),
])
def test_each_readability_check_fires_on_its_kind_of_sentence(sentence: str, after: bool, before: bool,
                                                              repeated: bool, expected: list[str]) -> None:
    chinese = not sentence.isascii()
    assert sentence_problems(sentence, sentence.lower(), chinese, after, before, repeated) == expected


def test_readability_reads_every_tags_overview_and_each_article_once(folder: Path, tmp_path: Path) -> None:
    library = Library.open(Settings(corpus=(folder,), cache_dir=tmp_path / "cache", workers=1))
    summarizer = Summarizer(library)
    checked = readability(summarizer)
    names = summarizer.tags()
    assert names  # the wiki links make a topic of every article
    articles = {a.path for entry in names for a in summarizer.resolve(entry.name).articles}
    several = [e for e in names if len(summarizer.resolve(e.name).articles) > 1]
    overviews = sum(len(summarizer.overview(summarizer.resolve(e.name).articles, e.name)) for e in several)
    summaries = sum(len(summarizer.summarize(a).sentences) for a in library.articles if a.path in articles)
    assert (checked.summaries, checked.sentences) == (len(several) + len(articles), overviews + summaries)
    assert set(checked.shares()) == set(READABILITY_CHECKS)
    assert all(share <= 1 for share in checked.shares().values())
    table = readability_table({"demo": checked})
    assert table.count("\n") == len(READABILITY_CHECKS) + 2 and "| demo |" in table
