"""boilerplate.py: lines a source repeats across its articles are found at index time and never quoted."""

from __future__ import annotations

from pathlib import Path

from bot.config import Settings
from bot.search.answers import Answerer
from bot.search.boilerplate import Boilerplate, fingerprint
from bot.search.library import Library
from bot.search.tokens import Tokenizer

SIGN_OFF = "本文来自华尔街见闻，欢迎下载APP查看更多。"
DISCLAIMER = ("风险提示：市场有风险，投资需谨慎。本文仅供参考，不构成个人投资建议，"
              "也未考虑到个别用户特殊的投资目标、财务状况或需要。")
FACTS = [
    ("英伟达财报", "英伟达第四季度营收达到393亿美元，同比增长78%。数据中心业务贡献了大部分收入，游戏业务则有所回落。"),
    ("特斯拉交付", "特斯拉第四季度交付了49.56万辆汽车，低于市场预期。公司表示新车型的产能爬坡比原计划更慢。"),
    ("苹果营收", "苹果第一财季营收为1243亿美元，创下历史新高。服务业务增长强劲，大中华区销售额却出现下滑。"),
    ("比亚迪销量", "比亚迪一月销量为30.05万辆，海外销量增长显著。春节假期让国内市场的需求出现了季节性回落。"),
]


def write(folder: Path, name: str, title: str, body: str, source: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(f'---\ntitle: "{title}"\ndate: 2025-02-10\nsource: "{source}"\n---\n\n{body}\n',
                               encoding="utf-8")


def open_library(folder: Path, root: Path, tokenizer: Tokenizer) -> Library:
    return Library.open(Settings(corpus=(folder,), cache_dir=root / "cache", workers=1), tokenizer=tokenizer)


def news_site(tmp_path: Path, signed: int) -> Path:
    """Four reports of one outlet; the first ``signed`` end their paragraph with its sign-off, and each
    has the outlet's disclaimer as a paragraph of its own."""
    folder = tmp_path / "news"
    for i, (title, fact) in enumerate(FACTS):
        sign_off = SIGN_OFF if i < signed else ""
        write(folder, f"{i}.md", title, f"{fact}{sign_off}\n\n{DISCLAIMER}", f"https://wallstreetcn.com/articles/{i}")
    return folder


def test_a_sign_off_in_three_articles_of_one_source_is_never_quoted(tmp_path: Path, tokenizer: Tokenizer) -> None:
    library = open_library(news_site(tmp_path, signed=3), tmp_path, tokenizer)
    answer = Answerer(library).answer("英伟达第四季度营收多少")
    assert answer.quotes, "the fact is still found"
    quote = answer.quotes[0]
    assert "393亿美元" in quote.excerpt
    assert "华尔街见闻" not in quote.excerpt
    assert "欢迎下载" not in quote.excerpt


def test_a_paragraph_made_only_of_boilerplate_is_never_a_result(tmp_path: Path, tokenizer: Tokenizer) -> None:
    library = open_library(news_site(tmp_path, signed=0), tmp_path, tokenizer)
    answer = Answerer(library).answer("风险提示 投资建议")
    assert all("风险提示" not in quote.excerpt for quote in answer.quotes)
    assert len(library.boilerplate.muted) == len(FACTS)


def test_a_line_in_two_articles_is_not_boilerplate(tmp_path: Path, tokenizer: Tokenizer) -> None:
    library = open_library(news_site(tmp_path, signed=2), tmp_path, tokenizer)
    quote = Answerer(library).answer("英伟达第四季度营收多少").quotes[0]
    assert SIGN_OFF in quote.excerpt


def test_the_same_words_from_different_sources_are_reporting_not_boilerplate(tmp_path: Path,
                                                                             tokenizer: Tokenizer) -> None:
    """Three outlets carrying one wire report: the shared sentence is the news, not anyone's habit."""
    folder = tmp_path / "wire"
    wire = "美联储宣布将联邦基金利率目标区间维持在4.25%至4.50%不变。"
    for i, host in enumerate(["wallstreetcn.com", "jin10.com", "qq.com"]):
        write(folder, f"{i}.md", f"议息会议{i}", wire, f"https://{host}/a/{i}")
    library = open_library(folder, tmp_path, tokenizer)
    assert len(library.boilerplate) == 0
    assert "4.25%" in Answerer(library).answer("美联储利率区间维持多少").quotes[0].excerpt


def test_boilerplate_is_found_again_when_an_article_changes(tmp_path: Path, tokenizer: Tokenizer) -> None:
    folder = news_site(tmp_path, signed=2)
    assert SIGN_OFF in Answerer(open_library(folder, tmp_path, tokenizer)).answer("特斯拉交付").quotes[0].excerpt
    write(folder, "2.md", FACTS[2][0], FACTS[2][1] + SIGN_OFF, "https://wallstreetcn.com/articles/2")
    library = open_library(folder, tmp_path, tokenizer)
    assert library.rebuilt
    assert "华尔街见闻" not in Answerer(library).answer("特斯拉交付").quotes[0].excerpt


def test_boilerplate_survives_a_restart(tmp_path: Path, tokenizer: Tokenizer) -> None:
    folder = news_site(tmp_path, signed=3)
    built = open_library(folder, tmp_path, tokenizer).boilerplate
    loaded = open_library(folder, tmp_path, tokenizer)
    assert not loaded.rebuilt
    assert loaded.boilerplate.prints == built.prints
    assert list(loaded.boilerplate.muted) == list(built.muted)


def test_lines_are_counted_per_source() -> None:
    line = "欢迎下载app查看更多"
    assert fingerprint("wallstreetcn.com", line) != fingerprint("jin10.com", line)
    assert fingerprint("wallstreetcn.com", line) == fingerprint("wallstreetcn.com", f" {line} ")


def test_no_boilerplate_flags_no_line() -> None:
    assert len(Boilerplate()) == 0
