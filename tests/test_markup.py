"""markup.py: Markdown and Hugo shortcodes become the text a reader sees, in quotable paragraphs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.search.markup import (
    MAX_PARAGRAPH_CHARS,
    blocks,
    build_paragraphs,
    clean_block,
    clean_inline,
    expand_shortcodes,
    is_prose_line,
    marked_line,
    sections,
    split_sentences,
)

LONG_CHINESE = "这是一个足够长的段落，用来说明问题，里面有很多很多的汉字，足以超过最小权重的要求，所以它可以单独成为一个段落。"


def test_linked_image_is_removed_entirely() -> None:
    assert clean_inline("[![图表](a.png)](https://x.com/b) 后面的文字") == "后面的文字"


def test_link_text_is_kept_and_the_url_dropped() -> None:
    assert clean_inline("详见[官方公告](https://example.com/notice)。") == "详见官方公告。"


@pytest.mark.parametrize(("markdown", "plain"), [
    ("**“DeepSeek时刻”出现**", "“DeepSeek时刻”出现"),
    ("这是__重点__内容", "这是重点内容"),
    ("~~删除线~~文字", "删除线文字"),
    ("an *italic* word", "an italic word"),
    pytest.param("而是*真的*降价", "而是真的降价"),
    pytest.param("an _italic_ word", "an italic word"),
])
def test_emphasis_markers_are_removed(markdown: str, plain: str) -> None:
    assert clean_inline(markdown) == plain


@pytest.mark.parametrize(("markdown", "plain"), [
    ("1\\. 第一条", "1. 第一条"),
    ("\\# 不是标题", "# 不是标题"),
    ("\\[不是链接\\]", "[不是链接]"),
    ("5 \\* 3 = 15", "5 * 3 = 15"),
    pytest.param("\\*并非强调\\*", "*并非强调*"),
])
def test_backslash_escapes_are_unescaped(markdown: str, plain: str) -> None:
    assert clean_inline(markdown) == plain


def test_table_pipes_become_separators_and_the_rule_line_goes() -> None:
    table = "| 模型 | 训练成本 |\n| --- | :---: |\n| DeepSeek-V3 | 557.6万美元 |"
    assert clean_block(table) == "模型 · 训练成本\nDeepSeek-V3 · 557.6万美元"


def test_wiki_links_become_their_label_or_last_path_part() -> None:
    assert clean_inline("见[[00-元语/AI]]与[[00-元语/llm|大模型]]") == "见AI与大模型"


def test_html_entities_are_decoded() -> None:
    assert clean_inline("AT&amp;T &lt;3") == "AT&T <3"


def test_html_attribute_remnant_lines_are_dropped() -> None:
    block = 'width="640" height="480" class="rich_pages">\n正文继续。'
    assert clean_block(block) == "正文继续。"


@pytest.mark.parametrize(("markdown", "plain"), [
    ('价格见<a href="https://x.com/p" target="_blank">对比表</a>，非常便宜。', "价格见对比表，非常便宜。"),
    ("第一行<br>第二行", "第一行第二行"),
])
def test_inline_html_tags_are_removed_and_their_text_kept(markdown: str, plain: str) -> None:
    assert clean_block(markdown) == plain


def test_short_fragment_is_merged_with_the_following_paragraph() -> None:
    paragraphs = build_paragraphs([("", "他的明天，在哪呢？"), ("", LONG_CHINESE)])
    assert [text for _, text in paragraphs] == [f"他的明天，在哪呢？\n{LONG_CHINESE}"]


def test_short_fragment_at_the_end_is_merged_with_the_previous_paragraph() -> None:
    paragraphs = build_paragraphs([("", LONG_CHINESE), ("", "他的明天，在哪呢？")])
    assert [text for _, text in paragraphs] == [f"{LONG_CHINESE}\n他的明天，在哪呢？"]


def test_short_fragment_alone_under_the_last_heading_does_not_stand_alone() -> None:
    paragraphs = build_paragraphs([("前文", LONG_CHINESE), ("结语", "他的明天，在哪呢？")])
    assert all(text != "他的明天，在哪呢？" for _, text in paragraphs)


def test_long_block_is_split_at_sentence_ends_under_the_limit() -> None:
    sentences = [f"第{i}句话讲的是一件很长很长而且相当重要的事情，需要慢慢说清楚。" for i in range(40)]
    block = "".join(sentences)
    assert len(block) > 2 * MAX_PARAGRAPH_CHARS
    paragraphs = build_paragraphs([("", block)])
    assert len(paragraphs) >= 3
    assert all(len(text) <= MAX_PARAGRAPH_CHARS for _, text in paragraphs)
    assert all(text.endswith("。") for _, text in paragraphs)
    assert "".join(text for _, text in paragraphs) == block


def test_endless_sentence_is_cut_under_the_limit() -> None:
    block = "没有句号" * 400
    paragraphs = build_paragraphs([("", block)])
    assert all(len(text) <= MAX_PARAGRAPH_CHARS for _, text in paragraphs)
    assert "".join(text for _, text in paragraphs) == block


def test_merging_never_grows_a_paragraph_past_the_limit() -> None:
    pieces = [("", "短句。" * 3)] * 200
    paragraphs = build_paragraphs(pieces)
    assert all(len(text) <= MAX_PARAGRAPH_CHARS for _, text in paragraphs)


def test_split_sentences_ends_at_chinese_and_english_sentence_ends() -> None:
    assert split_sentences("他说：“好。”然后走了。Then he left. Really?") == [
        "他说：“好。”", "然后走了。", "Then he left.", " Really?"]


def test_split_sentences_breaks_at_line_ends() -> None:
    assert split_sentences("• 第一项\n• 第二项") == ["• 第一项\n", "• 第二项"]


@given(st.text())
def test_split_sentences_joins_back_to_the_input(text: str) -> None:
    assert "".join(split_sentences(text)) == text


@given(st.text(alphabet=st.sampled_from(list("这是句子。！？；…”」abc .!?\"\n 　"))))
def test_split_sentences_gives_no_blank_piece_after_the_first(text: str) -> None:
    pieces = split_sentences(text)
    assert all(piece.strip() for piece in pieces[1:])


# --- what a reader sees of a Hugo page ---------------------------------------------------------

def prose(body: str) -> str:
    """The body as the paragraphs show it."""
    body = expand_shortcodes(body)
    return "\n\n".join(text for _, text in build_paragraphs((s.heading, s.block) for s in sections(body)))


def test_paired_content_shortcodes_keep_their_inner_text() -> None:
    body = ('{{% alert title="Note" color="info" %}}Mind the **gap** between the train and the platform.'
            '{{% /alert %}}\n\n{{< notice warning >}}Do not feed the animals in the park.{{< /notice >}}')
    assert prose(body) == "Mind the gap between the train and the platform.\nDo not feed the animals in the park."


def test_standalone_and_code_like_shortcodes_leave_nothing() -> None:
    body = ('See {{< relref "other.md" >}} and {{< figure src="a.png" >}} now.\n\n'
            '{{< highlight go >}}\nfunc main() { fmt.Println("<b>hi</b>") }\n{{< /highlight >}}\n\n'
            '{{< mermaid >}}\ngraph TD; A-->B\n{{< /mermaid >}}\n\n'
            'Hugo prints {{</* myshortcode */>}} literally in its own docs.')
    text = prose(body)
    assert "{{" not in text and "}}" not in text
    assert "func main" not in text and "graph TD" not in text
    assert text.startswith("See and now.")


def test_the_expand_hook_replaces_a_standalone_shortcode() -> None:
    def expand(name: str, positional: list[str], named: dict[str, str], depth: int) -> str | None:
        return f"[{name}:{positional[0]}:{named.get('lang', '')}]" if name == "include" else None

    assert expand_shortcodes('A {{% include "x.md" lang=go %}} B {{< ref "y" >}}', expand) == "A [include:x.md:go] B "


def test_code_is_never_prose() -> None:
    body = ("Install it:\n\n```shell\nnpm install <b>thing</b>\n```\n\n"
            "Or indented:\n\n    pip install other\n    echo done\n\n"
            "> ```log\n> ERROR quoted fence\n> ```\n\n"
            "<pre>\nraw pre block\n</pre>\n\n<script>\nvar x = 1;\n</script>\n\n$$\nE = mc^2\n$$\n\nAfter the code.")
    text = prose(body)
    for code in ("npm install", "pip install", "echo done", "ERROR quoted", "raw pre", "var x", "mc^2"):
        assert code not in text
    assert text.endswith("After the code.")


def test_reference_links_footnotes_and_definitions_keep_only_their_text() -> None:
    body = ("Read the [Specification][] and the [guide][g] or [this one].[^1]\n\n"
            "[Specification]: https://example.org/spec\n[g]: https://example.org/guide \"Guide\"\n"
            "[this one]: https://example.org/one\n\n"
            "[^1]: The footnote's own text, shown at the bottom of the page.")
    assert prose(body) == ("Read the Specification and the guide or this one.\n"
                           "The footnote's own text, shown at the bottom of the page.")


def test_alerts_definition_lists_attributes_and_autolinks() -> None:
    body = ("> [!NOTE]\n> Traces are sampled at the head.\n\n"
            "Term\n: The definition of the term, on a line of its own.\n\n"
            "## Setup {#setup .wide}\n\n{.lead}\nVisit <https://example.org/start> to begin.")
    text = prose(body)
    assert "[!NOTE]" not in text and "Traces are sampled at the head." in text
    assert "Term\nThe definition of the term" in text
    assert "{#" not in text and "{." not in text
    assert "Visit https://example.org/start to begin." in text
    assert [s.heading for s in sections(body)][-1] == "Setup"


def test_a_list_items_indented_continuation_stays_with_its_label() -> None:
    body = "- **Sampler**\n\n  Decides which traces are recorded.\n\n- Exporter\n\nNot in the list."
    assert blocks(body) == ["- **Sampler**\n\n  Decides which traces are recorded.".replace("\n\n", "\n"),
                            "- Exporter", "Not in the list."]


def test_markup_running_over_a_line_break_is_removed() -> None:
    assert clean_block("a **bold\nstatement** and a [link\ntext][ref] here") == "a bold\nstatement and a link\ntext here"


def test_inline_code_is_shown_as_written() -> None:
    assert clean_inline("Set `OTEL_*_ENDPOINT` to `<host>:4317` or `[a](b)`.") == (
        "Set OTEL_*_ENDPOINT to <host>:4317 or [a](b).")


def test_raw_html_tags_go_and_table_cells_stay_apart() -> None:
    assert clean_block("<table><tr><td>Model</td><td>Cost</td></tr></table>") == "Model · Cost"
    assert prose('<div class="note">\nPlain words inside a div block stay readable.\n</div>') == (
        "Plain words inside a div block stay readable.")


def test_a_heading_that_interrupts_a_block_starts_a_new_section() -> None:
    found = list(sections("Intro line of the article.\n## Second part\nThe second part's text."))
    assert [(s.heading, s.block) for s in found] == [("", "Intro line of the article."),
                                                     ("Second part", "The second part's text.")]


@given(st.text(alphabet=st.sampled_from(list("{}<>%/*`[]()!#:-_ |\\\nab中文\"'=.")), max_size=300))
def test_any_markup_gives_clean_lines_without_crashing(body: str) -> None:
    for _, text in build_paragraphs((s.heading, s.block) for s in sections(expand_shortcodes(body))):
        assert text.strip() and "\n\n" not in text


@given(st.text(alphabet=st.sampled_from(list("<>|=\"[]!:*+-.)0123 \t\u3000\xa0\u2028abX中文")), max_size=40))
def test_a_line_taken_for_prose_is_one_no_line_rule_would_change(line: str) -> None:
    """The quick check that lets most lines skip the line rules never skips a line they would change."""
    if is_prose_line(line):
        assert marked_line(line) == line.strip()


def test_reference_definitions_wrapped_or_emptied_by_a_shortcode_leave_nothing() -> None:
    body = ("Read the guide before you open a [pull request][].\n\n[pull request]:\n"
            "https://docs.github.com/en/get-started/pull-requests\n"
            '[2568]: {{<relref "2568.md">}}\n[2630]: {{<relref "2630.md">}}')
    assert prose(body) == "Read the guide before you open a pull request."


def test_an_html_tag_over_several_lines_leaves_only_its_text() -> None:
    body = '<a\n  href="https://github.com/x/y" class="z">github-action-benchmark</a> runs the benchmarks nightly.'
    assert prose(body) == "github-action-benchmark runs the benchmarks nightly."


def test_hugos_comment_shortcode_hides_its_text() -> None:
    assert prose("Shown text of the page.\n\n{{< comment >}}A note for the editors only.{{< /comment >}}") == (
        "Shown text of the page.")


def test_merged_paragraphs_keep_every_heading_they_sit_under() -> None:
    body = f"## Python2 还是 Python3\n\n{LONG_CHINESE}\n\n## 第一本 Python 书？\n\n自然是这本了。"
    assert [heading for heading, _ in build_paragraphs((s.heading, s.block) for s in sections(body))] == [
        "Python2 还是 Python3 · 第一本 Python 书？"]
