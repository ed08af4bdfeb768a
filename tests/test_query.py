"""query.py: what a question asks for, and which sentence holds it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings
from bot.search.answers import Answerer
from bot.search.library import Library
from bot.search.query import DATE, DURATION, NUMBER, PERCENT, PRICE, asked_for, holds_asked
from bot.search.ranking import Ranker
from bot.search.tokens import Tokenizer
from bot.search.weights import WEIGHTS


@pytest.mark.parametrize(("question", "kind"), [
    ("DeepSeek V3 的训练成本是多少？", PRICE),
    ("業主當年幾錢買入", PRICE),
    ("tiktok用户破亿花了多久来着", DURATION),
    ("普京与特朗普那通电话大概打了多长时间？", DURATION),
    ("How long did the call last?", DURATION),
    ("卡什卡利什么时候上任", DATE),
    ("投资人里能顺利转正的比例大概有多少？", PERCENT),
    ("高通汽車業務上季增長咗幾多", PERCENT),
    ("欧股创新高那天，西门子的股票涨了多少？", PERCENT),
    ("How much did Palantir shares climb in 2024?", PERCENT),
    ("马斯克改名 Harry Bolz 迷因币 涨幅", PERCENT),
    ("What gross margin did Breville report for the first half?", PERCENT),
    ("九阳 去年 净利润 预告", PRICE),
    ("What fourth-quarter sales did PPL report?", PRICE),
    ("亚马逊2024年全年资本开支大约是多少？", PRICE),
    ("2024年杭州的GDP总量在国内各城市中位列多少", NUMBER),
    ("般尼茅夫左閘卻基斯代表哪個國家隊？", None),
])
def test_what_a_question_asks_for_is_read_from_its_words(question: str, kind: str | None,
                                                         tokenizer: Tokenizer) -> None:
    assert asked_for(tokenizer.normalize(question)) == kind


@pytest.mark.parametrize(("sentence", "kind", "holds"), [
    ("tiktok耗时9个月位列第三", DURATION, True),
    ("双方通话持续了一个半小时", DURATION, True),
    ("2016年，卡什卡利被任命为主席", DURATION, False),
    ("常规能够通过试用期的投资人不到20%", PERCENT, True),
    ("他帮这家创业公司融到数亿元", PERCENT, False),
    ("营收增长约六成", PERCENT, True),
    ("以440亿美元的价格收购了推特", PRICE, True),
    ("2月13日公布", DATE, True),
])
def test_a_sentence_holds_the_asked_kind_only_with_a_value_of_it(sentence: str, kind: str, holds: bool,
                                                                  tokenizer: Tokenizer) -> None:
    assert holds_asked(tokenizer.normalize(sentence), kind) is holds


def test_a_value_the_question_states_is_no_answer(tokenizer: Tokenizer) -> None:
    assert not holds_asked(tokenizer.normalize("1月营收增长20%"), PERCENT, frozenset({"20"}))
    assert holds_asked(tokenizer.normalize("1月营收增长20%"), PERCENT, frozenset({"1"}))


def test_the_passage_holding_the_asked_percentage_is_quoted_first(tmp_path: Path, tokenizer: Tokenizer) -> None:
    """Two articles about investors joining start-ups; one says how many stay. Plain word matching prefers
    the one repeating the question's words; the ranker prefers the one holding a percentage."""
    folder = tmp_path / "posts"
    folder.mkdir()
    (folder / "a.md").write_text(
        '---\ntitle: "融资故事"\ndate: 2025-02-09\n---\n\n'
        "投资人空降创业公司后顺利转正，要么搞定融资，要么搞定订单。一位投资人转正后，帮公司融到数亿元。\n", encoding="utf-8")
    (folder / "b.md").write_text(
        '---\ntitle: "创业公司招聘观察"\ndate: 2025-02-10\n---\n\n'
        "猎头告诉我，空降到创业公司后，通过试用期顺利转正的投资人不到20%，多数人半年内离开。\n", encoding="utf-8")
    for name, text in [("c.md", "创业公司的办公室搬到了新园区，员工通勤时间变长。"),
                       ("d.md", "今年的春季招聘会上，企业更看重候选人的行业经验。")]:
        (folder / name).write_text(f'---\ntitle: "{name}"\ndate: 2025-02-08\n---\n\n{text}\n', encoding="utf-8")
    library = Library.open(Settings(corpus=(folder,), cache_dir=tmp_path / "cache", workers=1), tokenizer=tokenizer)
    question = "空降进创业公司的投资人，顺利转正的比例大概有多少？"
    blind = Answerer(library, ranker=Ranker({**WEIGHTS, "asked": 0.0}))
    assert "数亿元" in blind.answer(question).quotes[0].excerpt
    answer = Answerer(library).answer(question)
    assert "不到20%" in answer.quotes[0].sentence_text

