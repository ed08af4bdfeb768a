"""replies.py: answers rendered as Telegram HTML (valid, escaped, ≤ 4096) and as terminal text."""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.search.answers import Answer, Answerer, Quote
from bot.search.articles import Article, Paragraph
from bot.telegram.replies import (
    MESSAGE_LIMIT,
    answer_html,
    answer_text,
    escape,
    fit,
    highlight,
    pack,
    quote_html,
    shorten,
    strings,
    text_fragment_url,
    visible_length,
)

# --- a small Telegram HTML checker ---------------------------------------------------------

ALLOWED_TAGS: dict[str, set[str]] = {
    "b": set(), "strong": set(), "i": set(), "em": set(), "u": set(), "ins": set(), "s": set(),
    "strike": set(), "del": set(), "span": {"class"}, "tg-spoiler": set(), "a": {"href"}, "code": {"class"}, "pre": set(),
    "blockquote": {"expandable"}, "tg-emoji": {"emoji-id"},
}
"""What Telegram's HTML parse mode accepts (core.telegram.org/bots/api#html-style)."""
_TAG = re.compile(r"<[^<>]*>")
_TAG_PARTS = re.compile(r'<(/?)([a-z][a-z-]*)((?:\s+[a-z-]+(?:="[^"<>]*")?)*)\s*>')
_ATTRIBUTE = re.compile(r'([a-z-]+)(?:="([^"]*)")?')
_ENTITY = re.compile(r"&(?:#[0-9]+|#x[0-9a-fA-F]+|lt|gt|amp|quot);")


def _check_text(text: str, markup: str) -> None:
    assert "<" not in text and ">" not in text, f"unescaped < or > in {text!r} of {markup!r}"
    assert "&" not in _ENTITY.sub("", text), f"bare & or unsupported entity in {text!r} of {markup!r}"


def assert_telegram_html(markup: str) -> None:
    """Only Telegram's tags and attributes, balanced and properly nested; text escaped; ≤ 4096 visible."""
    stack: list[str] = []
    position = 0
    for match in _TAG.finditer(markup):
        _check_text(markup[position:match.start()], markup)
        position = match.end()
        parts = _TAG_PARTS.fullmatch(match.group())
        assert parts, f"malformed tag {match.group()!r} in {markup!r}"
        closing, name, attributes = parts.groups()
        assert name in ALLOWED_TAGS, f"tag <{name}> is not Telegram HTML"
        if closing:
            assert not attributes.strip(), f"attributes on a closing tag in {markup!r}"
            assert stack and stack[-1] == name, f"</{name}> closes {stack[-1:]} in {markup!r}"
            stack.pop()
        else:
            for attribute, value in _ATTRIBUTE.findall(attributes):
                assert attribute in ALLOWED_TAGS[name], f"<{name} {attribute}=…> is not Telegram HTML"
                _check_text(value, markup)
            assert name not in stack, f"<{name}> nested in itself in {markup!r}"
            stack.append(name)
    _check_text(markup[position:], markup)
    assert not stack, f"unclosed {stack} in {markup!r}"
    assert visible_length(markup) <= MESSAGE_LIMIT


def test_the_checker_rejects_what_telegram_rejects() -> None:
    for bad in ["<b>x", "x</b>", "<b><i>x</b></i>", "<script>x</script>", "a < b", "AT&T", "&nbsp;",
                '<a href="x" onclick="y">x</a>', "x" * 4097]:
        with pytest.raises(AssertionError):
            assert_telegram_html(bad)
    assert_telegram_html('<b>a</b> &amp; <a href="https://x.com/?a=1&amp;b=2">&lt;link&gt;</a> &#x27;')


# --- building answers by hand --------------------------------------------------------------

def make_article(title: str = "标题", tags: tuple[str, ...] = ("iyiou",),
                 source_url: str | None = "https://example.com/a", path: str = "news/a.md",
                 text: str = "正文") -> Article:
    return Article(path=path, title=title, date=datetime(2025, 2, 10), tags=tags, source_url=source_url,
                   lang="zh", paragraphs=(Paragraph(0, text),))


def make_quote(excerpt: str, sentence: tuple[int, int] | None = None, marks: tuple[tuple[int, int], ...] = (),
               article: Article | None = None, matched: tuple[str, ...] = ()) -> Quote:
    article = article or make_article(text=excerpt)
    sentence = sentence or (0, len(excerpt))
    return Quote(article, article.paragraphs[0], 1.0, 1.0, excerpt, sentence, marks, matched)


def test_quote_html_has_a_linked_title_date_tags_and_a_blockquote() -> None:
    quote = make_quote("训练成本仅为557.6万美元。其他内容。", (0, 15), ((0, 4),), matched=("训练成本",))
    markup = quote_html(quote, 1, "zh")
    assert_telegram_html(markup)
    assert markup.startswith("<b>1.</b> <a href=\"https://example.com/a#:~:text=")
    assert ">标题</a>" in markup
    assert "2025-02-10" in markup and "#iyiou" in markup
    assert "<blockquote><u><b>训练成本</b>仅为557.6万美元。</u>其他内容。</blockquote>" in markup
    assert "匹配" in markup.rsplit("</blockquote>", 1)[1] and "训练成本" in markup.rsplit("</blockquote>", 1)[1]


def test_quote_without_source_shows_its_path_instead() -> None:
    markup = quote_html(make_quote("正文内容。", article=make_article(source_url=None, text="正文内容。")), 2, "en")
    assert "<a " not in markup
    assert "news/a.md" in markup


def test_article_text_with_markup_characters_is_escaped() -> None:
    excerpt = 'Use <b>bold</b> & <script>alert("x")</script> 1<2'
    article = make_article(title="<b>AT&T</b>", tags=("<i>",), source_url='https://x.com/?a=1&b="2"',
                           text=excerpt)
    markup = answer_html(Answer("q", (make_quote(excerpt, (0, 10), ((4, 7),), article=article),), 1))
    assert_telegram_html(markup)
    assert "&lt;b&gt;AT&amp;T&lt;/b&gt;" in markup
    assert "&lt;script&gt;" in markup
    assert "#&lt;i&gt;" in markup
    assert 'href="https://x.com/?a=1&amp;b=&quot;2&quot;' in markup


def test_highlight_underlines_the_sentence_and_bolds_the_marks() -> None:
    assert highlight("ab。cd。", (0, 3), ((1, 2), (4, 5))) == "<u>a<b>b</b>。</u>c<b>d</b>。"


def test_highlight_with_a_mark_across_the_sentence_end_stays_balanced() -> None:
    markup = highlight("abc。def", (0, 4), ((2, 6),))
    assert_telegram_html(markup)
    assert markup == "<u>ab<b>c。</b></u><b>de</b>f"


def test_no_answer_message_suggests_tags() -> None:
    markup = answer_html(Answer("如何烤<蛋糕>", (), 0, 0, ("iyiou", "AI")), "zh")
    assert_telegram_html(markup)
    assert "&lt;蛋糕&gt;" in markup
    assert "#iyiou, #AI" in markup


def test_more_pages_are_announced() -> None:
    answer = Answer("q", (make_quote("第一条。"), make_quote("第二条。")), total=7, offset=2)
    markup = answer_html(answer, "en")
    assert "<b>3.</b>" in markup and "<b>4.</b>" in markup
    assert "<i>3–4 of 7</i>" in markup


def test_answer_over_the_limit_keeps_whole_quotes() -> None:
    long_quote = make_quote("很长的句子。" * 800)
    answer = Answer("q", (make_quote("短的。"), long_quote, make_quote("另一个。")), 3)
    markup = answer_html(answer)
    assert_telegram_html(markup)
    assert "短的。" in markup
    assert "很长的句子" not in markup


def test_single_quote_over_the_limit_becomes_shortened_plain_text() -> None:
    markup = answer_html(Answer("q", (make_quote("很长的句子。" * 1000),), 1))
    assert_telegram_html(markup)
    assert markup.endswith("…")
    assert MESSAGE_LIMIT - 10 < visible_length(markup) <= MESSAGE_LIMIT


def test_bundled_answers_are_valid_telegram_html(answerer: Answerer) -> None:
    for question in ["DeepSeek V3 的训练成本是多少？", "英伟达股价", "Bitcoin price", "特朗普关税", "how to bake a cake"]:
        for k in (1, 10):
            answer = answerer.answer(question, k=k, per_article=3)
            for lang in ("zh", "en", None):
                assert_telegram_html(answer_html(answer, lang))


# --- visible length, shorten, fit, pack ----------------------------------------------------

def test_visible_length_counts_entities_once_and_astral_characters_twice() -> None:
    assert visible_length("<b>a&amp;b</b>😀") == 5
    assert visible_length('<a href="https://very.long/url">x</a>') == 1


def test_escape_drops_lone_surrogates() -> None:
    escaped = escape("a\ud83db<")
    assert escaped == "a\ufffdb&lt;"
    escaped.encode("utf-8")


def test_shorten_leaves_short_text_alone() -> None:
    assert shorten("短文本", 10) == "短文本"


@pytest.mark.parametrize("limit", range(4088, 4100))
def test_shorten_never_cuts_a_surrogate_pair(limit: int) -> None:
    text = "a" * 4093 + "😀👨‍👩‍👧𝕏" * 3
    short = shorten(text, limit)
    encoded = short.encode("utf-16-le")
    assert len(encoded) // 2 <= limit
    assert encoded.decode("utf-16-le") == short
    assert short.endswith("…") or short == text


@given(st.text(), st.integers(2, 50))
def test_shorten_fits_the_limit_in_utf16_units(text: str, limit: int) -> None:
    short = shorten(text, limit)
    assert len(short.encode("utf-16-le")) // 2 <= limit
    assert short == text or (short.endswith("…") and text.startswith(short[:-1].rstrip()))


def test_fit_returns_the_markup_when_it_fits() -> None:
    assert fit("<b>x</b>", ["<b>x</b>"]) == "<b>x</b>"


def test_pack_joins_small_blocks_into_one_message() -> None:
    assert pack(["<b>a</b>", "<i>b</i>"]) == ["<b>a</b>\n\n<i>b</i>"]


def test_pack_never_splits_inside_a_tag_and_keeps_every_block() -> None:
    blocks = [f"<blockquote><b>{i}</b> {'字' * 900}</blockquote>" for i in range(12)]
    messages = pack(blocks)
    assert len(messages) > 1
    for message in messages:
        assert_telegram_html(message)
    assert "\n\n".join(messages) == "\n\n".join(blocks)


def test_pack_reduces_a_block_over_the_limit_to_plain_text() -> None:
    messages = pack(["<b>short</b>", f"<blockquote>{'&lt;' * 5000}</blockquote>"])
    assert messages[0] == "<b>short</b>"
    assert_telegram_html(messages[1])
    assert messages[1].startswith("&lt;&lt;")


def test_pack_of_nothing_is_no_messages() -> None:
    assert pack([]) == []


# --- text fragment links -------------------------------------------------------------------

URL = "https://www.iyiou.com/news/202502101089862"


def test_text_fragment_url_encodes_the_sentence() -> None:
    sentence = "且总训练成本仅为557.6万美元。"
    link = text_fragment_url(URL, sentence)
    assert link.startswith(f"{URL}#:~:text=")
    fragment = link.split("#:~:text=", 1)[1]
    assert re.fullmatch(r"[A-Za-z0-9%._~-]+", fragment)
    assert unquote(fragment) == sentence


def test_text_fragment_url_encodes_commas_and_ampersands() -> None:
    fragment = text_fragment_url(URL, "AT&T, Verizon and T-Mobile").split("#:~:text=", 1)[1]
    assert "," not in fragment and "&" not in fragment
    assert unquote(fragment) == "AT&T, Verizon and T-Mobile"


def test_text_fragment_url_strips_ellipsis_markers() -> None:
    assert unquote(text_fragment_url(URL, "…英伟达股价下跌近17%…").split("=", 1)[1]) == "英伟达股价下跌近17%"


@pytest.mark.parametrize("sentence", ["第一行很长很长\n第二行也很长很长", "短句。", "", "……"])
def test_text_fragment_url_skips_multi_line_and_short_sentences(sentence: str) -> None:
    assert text_fragment_url(URL, sentence) == URL


def test_text_fragment_url_keeps_an_existing_fragment() -> None:
    assert text_fragment_url(URL + "#comments", "英伟达股价下跌近17%") == URL + "#comments"


def test_long_sentence_uses_start_and_end_without_cutting_words() -> None:
    sentence = ("Nvidia shares fell nearly 17 percent on Monday, wiping out almost 600 billion dollars "
                "of market value in a single trading session.")
    fragment = text_fragment_url(URL, sentence).split("#:~:text=", 1)[1]
    start, end = (unquote(part) for part in fragment.split(","))
    assert sentence.startswith(start) and sentence.endswith(end)
    assert start == "Nvidia shares fell"
    assert end == "single trading session."
    assert len(fragment) < len(sentence)


@pytest.mark.parametrize("sentence", [
    "Yesterday, the DeepSeek-V3 model was compared with many other open models on a long list of benchmarks.",
    "-17%：英伟达股价在一天之内下跌",
])
def test_text_fragment_terms_never_start_or_end_with_a_dash(sentence: str) -> None:
    fragment = text_fragment_url(URL, sentence).split("#:~:text=", 1)[1]
    for term in fragment.split(","):
        assert not term.startswith("-") and not term.endswith("-")


# --- strings and terminal text -------------------------------------------------------------

@pytest.mark.parametrize(("code", "language"), [("zh", "zh"), ("zh-hans", "zh"), ("zh-TW", "zh"),
                                                ("en", "en"), ("fr", "en"), (None, "en"), ("", "en")])
def test_strings_follow_the_telegram_language_code(code: str | None, language: str) -> None:
    assert strings(code)["source"] == {"zh": "原文", "en": "Source"}[language]


def test_every_language_has_every_string() -> None:
    assert strings("zh").keys() == strings("en").keys()


def test_answer_text_marks_the_sentence_and_names_the_source() -> None:
    quote = make_quote("前文。训练成本仅为557.6万美元。后文。", (3, 18), matched=("训练成本",))
    text = answer_text(Answer("q", (quote,), 1))
    assert "»训练成本仅为557.6万美元。«" in text
    assert "→ https://example.com/a" in text
    assert "matched: 训练成本" in text
    assert text.startswith("1. 标题")
    assert "2025-02-10" in text.splitlines()[0] and "iyiou" in text.splitlines()[0]


def test_answer_text_without_quotes_suggests_tags() -> None:
    text = answer_text(Answer("cake", (), 0, 0, ("iyiou", "qq")))
    assert "“cake”" in text
    assert "iyiou, qq" in text


# --- properties over arbitrary text --------------------------------------------------------

_PIECES = st.sampled_from([
    "<b>", "</b>", '<a href="x">', "</a>", "&amp;", "&", "<", ">", '"', "'", "&lt;", "&#x27;", "<br/>",
    "\u200f", "\u202e", "\u200d", "\u200b", "\ufeff", "👨‍👩‍👧", "😀", "🏳️‍🌈", "𝕏",
    "中文", "繁體", "English ", "\n", " ", "…",
])
TEXTS = st.lists(st.one_of(_PIECES, st.text(max_size=30)), max_size=60).map("".join)


@st.composite
def quotes(draw: st.DrawFn) -> Quote:
    excerpt = draw(TEXTS)
    n = len(excerpt)
    start = draw(st.integers(0, n))
    end = draw(st.integers(start, n))
    cuts = sorted(set(draw(st.lists(st.integers(0, n), max_size=8))))
    marks = tuple((a, b) for a, b in zip(cuts[::2], cuts[1::2]) if a < b)
    article = Article(path=draw(TEXTS), title=draw(TEXTS),
                      date=draw(st.none() | st.just(datetime(2025, 1, 1))),
                      tags=tuple(draw(st.lists(TEXTS, max_size=4))), lang="zh",
                      source_url=draw(st.none() | TEXTS.map(lambda t: "https://example.com/" + t)),
                      paragraphs=(Paragraph(0, excerpt),))
    return Quote(article, article.paragraphs[0], 1.0, 1.0, excerpt, (start, end), marks,
                 tuple(draw(st.lists(TEXTS, max_size=3))))


@st.composite
def answers(draw: st.DrawFn) -> Answer:
    found = tuple(draw(st.lists(quotes(), max_size=5)))
    return Answer(draw(TEXTS), found, len(found) + draw(st.integers(0, 5)), draw(st.integers(0, 100)),
                  tuple(draw(st.lists(TEXTS, max_size=5))))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers(), st.sampled_from([None, "en", "zh-hans"]))
def test_every_rendered_answer_is_valid_telegram_html(answer: Answer, lang: str | None) -> None:
    assert_telegram_html(answer_html(answer, lang))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(quotes(), min_size=1, max_size=8), st.integers(200, MESSAGE_LIMIT))
def test_packed_quotes_are_valid_messages_within_the_limit(found: list[Quote], limit: int) -> None:
    for message in pack([quote_html(q, i + 1, "zh") for i, q in enumerate(found)], limit=limit):
        assert_telegram_html(message)
        assert visible_length(message) <= limit


@given(TEXTS)
def test_escaped_text_reads_back_as_the_text(text: str) -> None:
    import html

    markup = escape(text)
    _check_text(markup, markup)
    assert html.unescape(markup) == text
