"""Collections of any size: one, three or ten articles answer their own words, as a big corpus does.

A new user's first folder is small. In BM25 a word in half the paragraphs used to weigh nothing
(BM25Okapi's idf is 0 there), and title words are indexed with every paragraph of their
article, so a three-article folder answered nothing about its own titles. These folders mix
Simplified and Traditional Chinese, English, and files without front matter; every question is
asked through the Answerer (relevance floor and all) or the Dialogue, as a reader would.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import write_files

from bot.config import Settings
from bot.engine.engine import Engine
from bot.search.answers import Answerer
from bot.search.library import Library
from bot.search.tokens import Tokenizer
from bot.telegram.dialogue import Dialogue
from bot.telegram.state import State

ARTICLES: dict[str, tuple[str, str, str]] = {
    # file: (title question, body sentence, text)
    "solar.md": ("solar farm", "How many homes will the farm power?", """---
title: "Riverside solar farm opens to visitors"
date: 2024-05-01
tags: [energy]
---

The Riverside solar farm opened on Monday with 12,000 panels spread over forty hectares of former farmland.

The operator expects the farm to power about 3,500 homes, and a visitor centre explains how the panels track the sun.
"""),
    "門票.md": ("門票", "成人門票由四百九十八元加至五百二十八元", """---
title: "海洋公園門票加價"
date: 2024-06-10
---

香港海洋公園宣布，由七月一日起，成人門票由四百九十八元加至五百二十八元，小童門票加至二百六十四元。

園方表示，加價是因為營運成本上升，包括員工薪酬和動物護理開支。
"""),
    "lawnmower.md": ("lawnmower recall", "contact the retailer for a free repair", """# Robot lawnmower recall

The maker of the GreenCut robot lawnmower is recalling 40,000 units because the blade can keep spinning after the mower is lifted.

Owners should stop using the mower and contact the retailer for a free repair.
"""),
    "metro.md": ("地铁三号线", "三号线全长二十八公里，设站二十个", """---
title: "地铁三号线今日开通"
date: 2024-09-28
tags: [交通]
---

地铁三号线今天上午正式开通运营，三号线全长二十八公里，设站二十个，连接火车东站和大学城。

起步票价为两元，每增加六公里加一元，全程最高票价六元。
"""),
    "coffee.md": ("coffee prices", "Arabica futures rose to a record", """---
title: Coffee prices hit a record
date: 2024-11-20
---

Arabica futures rose to a record $3.20 a pound this week after drought cut the Brazilian harvest.

Roasters warned that supermarket prices for ground coffee would rise by about a tenth in the new year.
"""),
    "图书馆.md": ("图书馆", "周末开放到晚上十点", """图书馆从下个月起延长开放时间，工作日开放到晚上九点，周末开放到晚上十点。

馆方说，延长开放是因为考试季自习座位长期不够用，新增的两百个座位也将同时启用。
"""),
    "typhoon.zh-HK.md": ("颱風", "天文台懸掛八號烈風或暴風信號", """---
title: 颱風襲港 學校停課
date: 2024-09-06
---

天文台今早懸掛八號烈風或暴風信號，全港學校停課，渡輪服務暫停。

天文台預料颱風會在傍晚時分最接近本港，市民應留在安全地方。
"""),
    "marathon.md": ("marathon", "finished in two hours and six minutes", """---
title: Kiptum wins the city marathon
date: 2024-04-14
---

The Kenyan runner finished in two hours and six minutes, a course record, ahead of a crowd of 30,000 runners.

Organisers closed the bridge to traffic for the whole morning.
"""),
    "新能源.md": ("新能源汽车补贴", "每辆车最高补贴一万元", """---
title: 新能源汽车以旧换新补贴加码
tags: [汽车]
---

商务部宣布，报废旧车并购买新能源汽车的消费者，每辆车最高补贴一万元，政策执行到年底。

此前的补贴标准为每辆八千元，新标准从本月起实施。
"""),
    "bakery-on-mill-street.md": ("bakery", "sourdough loaves sell out before nine", """The family bakery on Mill Street reopened after a fire, and its sourdough loaves sell out before nine most mornings.

The owners rebuilt the wood-fired oven with help from neighbours who raised money online.
"""),
}


def library_of(files: list[str], root: Path, tokenizer: Tokenizer) -> Library:
    folder = write_files(root / "articles", {name: ARTICLES[name][2] for name in files})
    return Library.open(Settings(corpus=(folder,), cache_dir=root / "cache", workers=1), tokenizer=tokenizer)


FOLDERS = {
    1: ["門票.md"],
    3: ["solar.md", "門票.md", "lawnmower.md"],
    10: list(ARTICLES),
}


@pytest.fixture(params=sorted(FOLDERS), ids=lambda n: f"{n}-articles")
def folder(request: pytest.FixtureRequest, tmp_path: Path, tokenizer: Tokenizer) -> tuple[Answerer, list[str]]:
    files = FOLDERS[request.param]
    return Answerer(library_of(files, tmp_path, tokenizer)), files


def first_file(answerer: Answerer, question: str) -> str:
    quotes = answerer.answer(question).quotes
    assert quotes, f"nothing answers {question!r}"
    return Path(quotes[0].article.path).name


def test_title_words_find_their_article(folder: tuple[Answerer, list[str]]) -> None:
    answerer, files = folder
    for name in files:
        assert first_file(answerer, ARTICLES[name][0]) == name


def test_a_sentence_from_the_body_finds_its_article(folder: tuple[Answerer, list[str]]) -> None:
    answerer, files = folder
    for name in files:
        assert first_file(answerer, ARTICLES[name][1]) == name


def test_a_reader_question_in_the_other_script_or_in_plain_words(tmp_path: Path, tokenizer: Tokenizer) -> None:
    answerer = Answerer(library_of(FOLDERS[3], tmp_path, tokenizer))
    assert first_file(answerer, "门票多少钱") == "門票.md"  # simplified question, traditional article
    assert first_file(answerer, "Riverside") == "solar.md"
    quote = answerer.answer("成人门票多少钱？").quotes[0]
    assert "五百二十八元" in quote.sentence_text


def test_a_file_without_front_matter_is_titled_by_its_heading_or_its_name(tmp_path: Path,
                                                                          tokenizer: Tokenizer) -> None:
    library = library_of(FOLDERS[10], tmp_path, tokenizer)
    titles = {Path(a.path).name: a.title for a in library.articles}
    assert titles["lawnmower.md"] == "Robot lawnmower recall"
    assert titles["bakery-on-mill-street.md"] == "bakery-on-mill-street"


def test_words_in_no_article_still_answer_nothing(folder: tuple[Answerer, list[str]]) -> None:
    answerer, _ = folder
    assert answerer.answer("quantum chromodynamics lecture").quotes == ()


def test_a_follow_up_carries_the_previous_questions_subject(tmp_path: Path, tokenizer: Tokenizer) -> None:
    library = library_of(FOLDERS[10], tmp_path, tokenizer)
    dialogue = Dialogue(Engine.over(library), State(":memory:"))
    first = dialogue.ask("地铁三号线什么时候开通？", "zh")
    assert "地铁三号线" in first.html and first.query_id is not None
    follow = dialogue.ask("那票价呢？", "zh", previous=first.query_id)
    text = re.sub(r"<[^>]+>", "", follow.html)
    assert text.startswith("（接着上一个问题“地铁三号线什么时候开通？”）")
    assert "起步票价为两元" in text
