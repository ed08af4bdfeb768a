"""reading.py: a question read as a reader means it: the date it names, the words it misspelt, its filler."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bot.config import Settings
from bot.search.answers import Answerer
from bot.search.library import Library
from bot.search.reading import Reader
from bot.search.tokens import Tokenizer


def write(folder: Path, name: str, title: str, day: str, body: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(f'---\ntitle: "{title}"\ndate: {day}\n---\n\n{body}\n', encoding="utf-8")


def open_library(folder: Path, root: Path, tokenizer: Tokenizer) -> Library:
    return Library.open(Settings(corpus=(folder,), cache_dir=root / "cache", workers=1), tokenizer=tokenizer)


def market_column(tmp_path: Path, tokenizer: Tokenizer) -> Library:
    """The same midday column on three days of one week: a question naming a day means that day's."""
    folder = tmp_path / "news"
    for day, points, change in [("2025-02-11", "21294", "1.02"), ("2025-02-12", "21857", "2.64"),
                                ("2025-02-13", "21814", "0.20")]:
        write(folder, f"{day}.md", f"港股午间收盘 {day}", day,
              f"港股午间收盘，恒指报{points}点，涨跌幅{change}%，成交额超过一千亿港元，科技股表现活跃。\n\n"
              f"南向资金半日净买入港股，市场情绪较前一交易日有所变化，分析师认为短期仍将震荡。")
    return open_library(folder, tmp_path, tokenizer)


@pytest.mark.parametrize(("question", "day", "points"), [
    ("2月13日港股午间收盘恒指多少点", "2025-02-13", "21814"),
    ("2月11日 港股午间收盘 恒指", "2025-02-11", "21294"),
    ("2月12號港股午間收盤恆指報幾多", "2025-02-12", "21857"),
    ("昨天港股午间收盘恒指报多少点", "2025-02-12", "21857"),
])
def test_a_question_naming_a_day_prefers_that_days_article_and_says_so(
        tmp_path: Path, tokenizer: Tokenizer, question: str, day: str, points: str) -> None:
    answer = Answerer(market_column(tmp_path, tokenizer)).answer(question)
    assert answer.date is not None and str(answer.date) == day
    assert answer.quotes[0].article.date is not None
    assert answer.quotes[0].article.date.date().isoformat() == day
    assert points in answer.quotes[0].excerpt


def test_a_day_without_its_year_is_the_collections_day(tmp_path: Path, tokenizer: Tokenizer) -> None:
    """Last year's news read this year: 2月13日 is the 2月13日 the collection has articles of."""
    library = market_column(tmp_path, tokenizer)
    write(tmp_path / "news", "later.md", "一篇较新的随笔", "2026-03-01", "随笔的内容与行情无关，只是较晚写成。")
    library = open_library(tmp_path / "news", tmp_path, tokenizer)
    reader = Reader(library, today=lambda: date(2026, 12, 3))
    span = reader.date("2月13日港股午间收盘")
    assert span is not None and str(span) == "2025-02-13"


def test_a_question_without_a_date_has_none(tmp_path: Path, tokenizer: Tokenizer) -> None:
    answer = Answerer(market_column(tmp_path, tokenizer)).answer("港股午间收盘恒指多少点")
    assert answer.date is None
    assert answer.quotes


FOUNDER = ("梁文锋是深度求索的创始人，他在杭州创办了这家公司，团队里大多是刚毕业不久的年轻研究人员。",
           "梁文锋此前创立了量化基金幻方，管理规模一度超过千亿元，后来又把算力投入到大模型的研究之中。",
           "业内人士评价梁文锋低调务实，很少接受媒体采访，也很少在公开场合谈论公司的商业计划。")


def ai_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "ai"
    write(folder, "founder.md", "深度求索的创始人", "2025-02-01", "\n\n".join(FOUNDER))
    write(folder, "chips.md", "芯片出口管制", "2025-02-02",
          "美国商务部更新了芯片出口管制规则，英伟达的部分产品受到影响。\n\n文峰区的一家企业也在名单之中，文峰街道办表示将配合调查。")
    write(folder, "nvidia.md", "Nvidia earnings", "2025-02-03",
          "Nvidia's earnings rose sharply: quarterly revenue reached $39.3 billion, and the company earned 14bn in "
          "net income, far more than analysts had expected a year ago.\n\n"
          "The index closed at 3,870.08 points after the report, analysts said, with Nvidia shares leading the "
          "gains among chip makers for a second day.")
    return folder


def test_a_homophone_name_finds_its_article_and_says_what_was_searched(tmp_path: Path,
                                                                       tokenizer: Tokenizer) -> None:
    answer = Answerer(open_library(ai_folder(tmp_path), tmp_path, tokenizer)).answer("梁文峰创办了什么公司")
    assert answer.searched == "梁文锋创办了什么公司"
    assert [(c.typed, c.meant) for c in answer.corrections] == [("峰", "锋")]
    assert answer.quotes[0].article.title == "深度求索的创始人"


def test_a_latin_word_one_edit_away_is_read_as_the_collections(tmp_path: Path, tokenizer: Tokenizer) -> None:
    answer = Answerer(open_library(ai_folder(tmp_path), tmp_path, tokenizer)).answer("nvidai earnings")
    assert answer.searched == "nvidia earnings"
    assert answer.quotes[0].article.title == "Nvidia earnings"


def test_words_spelled_right_are_left_alone(tmp_path: Path, tokenizer: Tokenizer) -> None:
    answerer = Answerer(open_library(ai_folder(tmp_path), tmp_path, tokenizer))
    for question in ("梁文锋创办了什么公司", "文峰区的企业", "Nvidia earnings", "h200 chips"):
        answer = answerer.answer(question)
        assert answer.searched == "" and answer.corrections == (), question


def test_a_corrected_word_weighs_less_than_one_typed_right(tmp_path: Path, tokenizer: Tokenizer) -> None:
    answerer = Answerer(open_library(ai_folder(tmp_path), tmp_path, tokenizer))
    typed, meant = answerer.query("梁文峰"), answerer.query("梁文锋")
    assert typed.weights["文锋"] < meant.weights["文锋"]


@pytest.mark.parametrize("question", ["How much did Nvidia earn?", "nvidia earned", "Nvidia $14 billion",
                                      "index 3870.08"])
def test_english_inflections_and_number_forms_find_the_article(tmp_path: Path, tokenizer: Tokenizer,
                                                                question: str) -> None:
    answer = Answerer(open_library(ai_folder(tmp_path), tmp_path, tokenizer)).answer(question)
    assert answer.quotes[0].article.title == "Nvidia earnings"


@pytest.mark.parametrize(("plain", "chatty"), [
    ("梁文锋创办了什么公司", "那个梁文锋到底创办了什么公司啊"),
    ("英伟达 芯片出口管制", "英伟达的芯片出口管制一共是咋回事呀"),
    ("Nvidia quarterly revenue", "What exactly was Nvidia's quarterly revenue, actually?"),
])
def test_filler_words_do_not_change_the_ranking(tmp_path: Path, tokenizer: Tokenizer, plain: str,
                                                chatty: str) -> None:
    answerer = Answerer(open_library(ai_folder(tmp_path), tmp_path, tokenizer))
    ranked = [[p.index for p in answerer.retrieve(q, 5)] for q in (plain, chatty)]
    assert ranked[0][:3] == ranked[1][:3]


def test_seams_between_words_are_not_searched(tokenizer: Tokenizer) -> None:
    """们到 in 他们到底 straddles two words; a paragraph holding it matches nothing asked."""
    assert {"们到", "练成"} <= tokenizer.seams("他们到底怎么训练成本")
    assert not tokenizer.seams("梁文锋") & {"梁文", "文锋"}
