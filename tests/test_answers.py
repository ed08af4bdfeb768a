"""answers.py: a question becomes quotes (verbatim excerpts with their article) or suggestions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import DEEPSEEK_URL, write_files

from bot.config import Settings
from bot.errors import QuestionError
from bot.search.answers import Answer, Answerer, Quote, check_question, find_marks
from bot.search.library import Library
from bot.search.query import sentence_weight
from bot.search.tokens import Tokenizer

DEEPSEEK_QUESTION = "DeepSeek V3 的训练成本是多少？"
HK_QUESTION = "田北辰建议公务员冻薪，一年能节省多少开支？"
"""Simplified script; the article (corpus/news/5e2df6c2….zh-HK.md) writes 凍薪 and 節省 in Traditional."""
HK_PATH = "news/5e2df6c224a782828d2f9e45c3ab798c.zh-HK.md"
ENGLISH_QUESTION = "Why does Comcast lack a moat according to Charlie Munger?"
ENGLISH_PATH = "news/1715489.en.md"

QUESTIONS = [DEEPSEEK_QUESTION, HK_QUESTION, ENGLISH_QUESTION, "英伟达股价下跌", "特朗普关税", "Kimi 浏览器",
             "Sora 自拍", "Bitcoin price", "OpenAI o1", "道指升多少点", "秘塔AI搜索 上课", "市值蒸发"]


def quotes_for(answerer: Answerer, question: str, k: int = 10, per_article: int = 3) -> tuple[Quote, ...]:
    return answerer.answer(question, k=k, per_article=per_article).quotes


# --- the bundled corpus, end to end --------------------------------------------------------

def test_deepseek_training_cost_is_the_first_quote(answerer: Answerer) -> None:
    first = answerer.answer(DEEPSEEK_QUESTION).quotes[0]
    assert "557.6万美元" in first.excerpt
    assert first.article.source_url == DEEPSEEK_URL


def test_deepseek_training_cost_is_quoted_with_its_source(answerer: Answerer) -> None:
    quotes = answerer.answer(DEEPSEEK_QUESTION).quotes
    quote = next(q for q in quotes if "557.6万美元" in q.excerpt)
    assert quote.article.source_url == DEEPSEEK_URL
    assert quote.article.title == "DeepSeek，搅了谁的局？"
    assert "557.6万美元" in quote.sentence_text
    assert {"DeepSeek", "V3"} <= set(quote.matched_terms)


def test_simplified_question_finds_a_traditional_article(answerer: Answerer) -> None:
    first = answerer.answer(HK_QUESTION).quotes[0]
    assert first.article.path.endswith(HK_PATH)
    assert "凍薪" in first.excerpt
    assert "節省80至90億元開支" in first.excerpt


def test_traditional_terms_are_marked_in_the_excerpt(answerer: Answerer) -> None:
    first = answerer.answer(HK_QUESTION).quotes[0]
    marked = {first.excerpt[a:b] for a, b in first.marks}
    assert any("凍薪" in m for m in marked)


def test_english_question_finds_the_english_article(answerer: Answerer) -> None:
    first = answerer.answer(ENGLISH_QUESTION).quotes[0]
    assert first.article.path.endswith(ENGLISH_PATH)
    assert first.article.lang == "en"


@pytest.mark.parametrize("question", QUESTIONS)
def test_one_quote_per_article_by_default(answerer: Answerer, question: str) -> None:
    paths = [q.article.path for q in answerer.answer(question, k=10).quotes]
    assert len(paths) == len(set(paths))


def test_per_article_allows_more_quotes_from_one_article(answerer: Answerer) -> None:
    paths = [q.article.path for q in answerer.answer("DeepSeek", k=10, per_article=2).quotes]
    assert max(paths.count(p) for p in paths) == 2


def test_paging_gives_the_next_quotes(answerer: Answerer) -> None:
    everything = answerer.answer("英伟达", k=50)
    assert everything.total >= 3
    first = answerer.answer("英伟达", k=2)
    second = answerer.answer("英伟达", k=2, offset=2)
    assert first.has_more
    assert first.total == second.total == everything.total
    pages = [q.paragraph.text for q in first.quotes + second.quotes]
    assert pages == [q.paragraph.text for q in everything.quotes[:4]]
    assert second.offset == 2


def test_last_page_has_no_more(answerer: Answerer) -> None:
    total = answerer.answer("DeepSeek 训练成本", k=50).total
    last = answerer.answer("DeepSeek 训练成本", k=2, offset=total - 1)
    assert len(last.quotes) == 1
    assert not last.has_more
    assert answerer.answer("DeepSeek 训练成本", k=2, offset=total + 5).quotes == ()


def test_unrelated_question_gives_no_quotes_and_suggests_tags(answerer: Answerer) -> None:
    answer = answerer.answer("how to bake a chocolate cake")
    assert answer.quotes == ()
    assert answer.total == 0
    assert not answer.has_more
    assert answer.suggestions
    known = {tag for article in answerer.library.articles for tag in article.tags}
    assert set(answer.suggestions) <= known


def test_every_quote_passes_the_relevance_floor(answerer: Answerer) -> None:
    for question in QUESTIONS:
        for quote in quotes_for(answerer, question):
            assert quote.relevance >= answerer.min_relevance


def test_follow_up_question_uses_the_key_terms_of_its_context(answerer: Answerer) -> None:
    bare = answerer.answer("它的价格呢？", k=3)
    follow_up = answerer.answer("它的价格呢？", k=3, context="Kimi 浏览器")
    assert not bare.quotes or "Kimi" not in bare.quotes[0].article.title
    assert "Kimi" in follow_up.quotes[0].article.title


# --- questions that cannot be searched ------------------------------------------------------

@pytest.mark.parametrize(("question", "hint"), [
    ("", "type a question"),
    ("   \n", "type a question"),
    ("？？！！。。", "no words"),
    ("😀🎉👍", "no words"),
    ("什么 哪里 多少", "no words"),
    ("x" * 10_000, "10,000 characters"),
])
def test_unsearchable_questions_raise_a_helpful_question_error(answerer: Answerer, question: str,
                                                                hint: str) -> None:
    with pytest.raises(QuestionError) as caught:
        answerer.answer(question)
    message = str(caught.value)
    assert hint in message
    assert "e.g." in message or "under" in message


def test_long_question_error_says_the_limit() -> None:
    with pytest.raises(QuestionError, match="under 1,000 characters"):
        check_question("问" * 1001, 1000)
    assert check_question("  问题  ", 1000) == "问题"


def test_retrieve_raises_the_same_question_errors(answerer: Answerer) -> None:
    with pytest.raises(QuestionError):
        answerer.retrieve("？？？", 5)


def test_key_terms_of_an_unsearchable_question_are_empty(answerer: Answerer) -> None:
    assert answerer.key_terms("？？？") == []
    terms = answerer.key_terms(DEEPSEEK_QUESTION)
    assert 0 < len(terms) <= 3
    assert set(terms) <= set(answerer.tokens(DEEPSEEK_QUESTION))


# --- quotes: verbatim excerpts, spans inside them ------------------------------------------

@pytest.mark.parametrize("question", QUESTIONS)
def test_excerpt_is_a_verbatim_slice_of_the_paragraph(answerer: Answerer, question: str) -> None:
    for quote in quotes_for(answerer, question):
        core = quote.excerpt.removeprefix("…").removesuffix("…")
        assert core
        assert core in quote.paragraph.text


@pytest.mark.parametrize("question", QUESTIONS)
def test_sentence_and_marks_lie_inside_the_excerpt(answerer: Answerer, question: str) -> None:
    for quote in quotes_for(answerer, question):
        start, end = quote.sentence
        assert 0 <= start < end <= len(quote.excerpt)
        assert quote.sentence_text.strip()
        previous_end = -1
        for a, b in quote.marks:
            assert 0 <= a < b <= len(quote.excerpt)
            assert a > previous_end
            previous_end = b
        assert set(quote.matched_terms) <= {quote.excerpt[a:b] for a, b in quote.marks}


def test_a_long_block_is_quoted_as_the_paragraph_that_holds_the_answer(tmp_path: Path,
                                                                      tokenizer: Tokenizer) -> None:
    """Blocks longer than a quote are split at sentence ends when indexed: a quote is a whole paragraph
    (the evaluation's cmrc contexts lost 6 points of recall as shown when quotes were cut at 320)."""
    from bot.search.answers import EXCERPT_CHARS

    filler = [f"第{i}段讲的是这座城市在{1990 + i}年前后的交通规划、人口变化和公共服务建设，细节很多。" for i in range(20)]
    answer_sentence = "新建的跨海大桥全长二十七公里，总投资约为三百八十亿元。"
    body = "".join(filler[:10] + [answer_sentence] + filler[10:])
    folder = write_files(tmp_path / "long", {"bridge.md": f"---\ntitle: 城市规划\n---\n\n{body}\n"})
    library = Library.open(Settings(corpus=(folder,), cache_dir=tmp_path / "cache", workers=1), tokenizer=tokenizer)
    assert len(library.articles[0].paragraphs) > 1
    quote = Answerer(library).answer("跨海大桥总投资是多少").quotes[0]
    assert quote.excerpt == quote.paragraph.text.strip()
    assert len(quote.excerpt) <= EXCERPT_CHARS
    assert quote.sentence_text == answer_sentence


# --- the small corpus ----------------------------------------------------------------------

def test_small_corpus_answers_from_each_shape(small_library: Library) -> None:
    answerer = Answerer(small_library)
    assert answerer.answer("训练成本").quotes[0].article.title == "DeepSeek，搅了谁的局？"
    assert answerer.answer("Sora 网页端").quotes[0].article.title.startswith("GPT4o")
    assert answerer.answer("道琼斯指数收涨多少点").quotes[0].article.lang == "zh"
    assert answerer.answer("Peacock streaming").quotes[0].article.lang == "en"


def test_min_relevance_one_keeps_only_full_matches(small_library: Library) -> None:
    strict = Answerer(small_library, min_relevance=1.0)
    for quote in strict.answer("英伟达 股价 Meta", k=10, per_article=5).quotes:
        assert quote.relevance == pytest.approx(1.0)


def test_empty_library_answers_nothing_without_crashing(
        tmp_path: Path, make_settings: Callable[..., Settings], tokenizer: Tokenizer) -> None:
    answer = Answerer(Library.open(make_settings(tmp_path / "none"), tokenizer=tokenizer)).answer("DeepSeek")
    assert answer == Answer("DeepSeek", (), 0, 0, ())


# --- helpers -------------------------------------------------------------------------------

def test_find_marks_matches_latin_words_whole(tokenizer: Tokenizer) -> None:
    text = "He said AI is here; OpenAI said so."
    assert find_marks(text, ["ai"], tokenizer) == ((8, 10),)


def test_find_marks_merges_overlapping_spans(tokenizer: Tokenizer) -> None:
    assert find_marks("英伟达股价下跌", ["英伟", "伟达", "股价"], tokenizer) == ((0, 5),)


def test_find_marks_finds_simplified_tokens_in_traditional_text(tokenizer: Tokenizer) -> None:
    assert find_marks("英偉達股價下跌", ["股价"], tokenizer) == ((3, 5),)


def test_sentence_weight_sums_the_tokens_present(tokenizer: Tokenizer) -> None:
    weights = {"deepseek": 2.0, "成本": 1.5, "ai": 1.0}
    latin = tokenizer.latin_tokens
    assert sentence_weight(tokenizer.normalize("DeepSeek 的训练成本很低，他说。"), weights, latin) == pytest.approx(3.5)
    assert sentence_weight("openai said", {"ai": 1.0}, latin) == 0.0
    assert sentence_weight("python3 is out", {"python": 1.0}, latin) == 1.0  # the tokenizer's own parts


# --- no filler ----------------------------------------------------------------------------------

def test_quotes_much_weaker_than_the_first_are_neither_shown_nor_offered(bundled_library: Library) -> None:
    from bot.search.answers import FILLER_RATIO

    everything = Answerer(bundled_library, filler_ratio=0.0).answer(DEEPSEEK_QUESTION, k=60)
    answer = Answerer(bundled_library).answer(DEEPSEEK_QUESTION, k=60)
    strong = [q for q in everything.quotes if q.score >= FILLER_RATIO * everything.quotes[0].score]
    assert [q.paragraph for q in answer.quotes] == [q.paragraph for q in strong]
    assert answer.total == len(strong) < everything.total  # More never offers the weak ones either


def test_when_one_passage_answers_only_it_is_quoted_and_more_is_not_offered(bundled_library: Library) -> None:
    answer = Answerer(bundled_library).answer("Bitcoin price this week", k=3)
    assert answer.total == len(answer.quotes) == 1
    assert not answer.has_more
    assert "Bitcoin" in answer.quotes[0].article.title


@pytest.mark.parametrize(("text", "question", "marked"), [
    ("Nvidia's earnings rose", "How much did Nvidia earn?", ["Nvidia's", "earnings"]),
    ("revenue of 14bn", "$14 billion", ["14bn"]),
    ("it closed at 3,870.08 points", "3870.08", ["3,870.08"]),
    ("DeepSeek-V3 is out", "V3", ["V3"]),
])
def test_find_marks_marks_the_words_whose_tokens_meet_the_question(tokenizer: Tokenizer, text: str,
                                                                  question: str, marked: list[str]) -> None:
    assert [text[a:b] for a, b in find_marks(text, tokenizer(question), tokenizer)] == marked


def test_find_marks_never_marks_a_lone_chinese_character(tokenizer: Tokenizer) -> None:
    """钱 of 幾錢 is not the 錢 of the name 錢敏義; 前 is not a word of 前华尔街资金经理."""
    assert find_marks("錢敏義表示業主獲利", ["钱"], tokenizer) == ()
    assert find_marks("前华尔街资金经理", ["前", "华尔街"], tokenizer) == ((1, 4),)
