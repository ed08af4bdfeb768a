"""articles.py: Markdown files become articles (metadata) and quotable paragraphs."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from conftest import (
    DEEPSEEK_URL,
    ENGLISH_ARTICLE,
    HK_ARTICLE,
    NEWS_ARTICLE,
    WECHAT_ARTICLE,
    WECHAT_URL,
    write_files,
)

from bot.errors import CorpusError
from bot.search.articles import (
    SOURCE_KEYS,
    Article,
    LoadReport,
    find_markdown_files,
    is_truncated_lead,
    load_article,
    parse_date,
    read_text,
)
from bot.search.markup import MAX_PARAGRAPH_CHARS

LONG_CHINESE = "这是一个足够长的段落，用来说明问题，里面有很多很多的汉字，足以超过最小权重的要求，所以它可以单独成为一个段落。"


def load(text: str, name: str = "article.md") -> Article:
    return load_article(Path(name), text)


def article_md(body: str, front: str = 'title: "测试文章"') -> str:
    return f"---\n{front}\n---\n\n{body}\n"


def all_text(article: Article) -> str:
    return "\n".join(p.text for p in article.paragraphs)


# --- the two corpus shapes ----------------------------------------------------------------

def test_news_article_metadata() -> None:
    article = load(NEWS_ARTICLE)
    assert article.title == "DeepSeek，搅了谁的局？"
    assert article.date == datetime(2025, 2, 10, 16, 26, 13)
    assert article.date_text == "2025-02-10"
    assert article.lang == "zh-CN"


def test_wechat_article_metadata() -> None:
    article = load(WECHAT_ARTICLE)
    assert article.title == "GPT4o生成的烂自拍，反而比我们更真实。"
    assert article.date == datetime(2024, 10, 8)
    assert article.source_url == WECHAT_URL
    assert article.author == "数字生命卡兹克"
    assert article.tags == ()


def test_traditional_chinese_and_english_articles_load() -> None:
    hk = load(HK_ARTICLE)
    english = load(ENGLISH_ARTICLE)
    assert "道瓊斯工業平均指數收漲342點" in all_text(hk)
    assert english.lang == "en"
    assert "Charlie Munger" in all_text(english)


# --- dates --------------------------------------------------------------------------------

def test_quoted_date_string_is_parsed() -> None:
    assert load(article_md("正文。", 'date: "2025-02-10 16:26:13"')).date == datetime(2025, 2, 10, 16, 26, 13)


def test_yaml_date_is_parsed() -> None:
    assert load(article_md("正文。", "发布日期: 2024-10-08")).date == datetime(2024, 10, 8)


def test_missing_date_is_none_and_date_text_empty() -> None:
    article = load(article_md("正文。"))
    assert article.date is None
    assert article.date_text == ""


def test_unparseable_date_falls_back_to_the_next_date_key() -> None:
    article = load(article_md("正文。", 'date: "not a date"\npublished: 2023-05-06'))
    assert article.date == datetime(2023, 5, 6)


@pytest.mark.parametrize(("value", "expected"), [
    ("2025-02-10", datetime(2025, 2, 10)),
    ("2025/02/10", datetime(2025, 2, 10)),
    ("2025年2月10日", datetime(2025, 2, 10)),
    ("2025-02-10T08:00:00+08:00", datetime(2025, 2, 10, 8, 0)),
    ("yesterday", None),
    ("", None),
    (None, None),
])
def test_parse_date_formats(value: object, expected: datetime | None) -> None:
    assert parse_date(value) == expected


# --- tags ---------------------------------------------------------------------------------

def test_tags_are_tags_then_categories_without_duplicates() -> None:
    assert load(NEWS_ARTICLE).tags == ("iyiou", "AI", "科技")


def test_tags_as_comma_separated_string_deduplicate_ignoring_case() -> None:
    assert load(ENGLISH_ARTICLE).tags == ("tipranks", "stocks")


# --- source URL ---------------------------------------------------------------------------

def test_trailing_markdown_link_is_the_source_url() -> None:
    assert load(NEWS_ARTICLE).source_url == DEEPSEEK_URL


def test_trailing_link_line_is_removed_from_the_body() -> None:
    article = load(NEWS_ARTICLE)
    assert "iyiou" not in all_text(article)
    assert "202502101089862" not in all_text(article)


def test_trailing_link_url_with_raw_non_ascii_characters_is_kept_verbatim() -> None:
    article = load(HK_ARTICLE)
    assert article.source_url == ("https://finance.mingpao.com/fin/instantf/20250214/1739492658928/"
                                  "美股兩周高-道指升342點")
    assert "mingpao" not in all_text(article)


@pytest.mark.parametrize("key", SOURCE_KEYS)
def test_each_front_matter_source_key_gives_the_source_url(key: str) -> None:
    text = article_md(f"{LONG_CHINESE}\n\n[iyiou]({DEEPSEEK_URL})",
                      f'title: t\n{key}: "https://example.com/a"')
    assert load(text).source_url == "https://example.com/a"


def test_front_matter_source_wins_over_the_trailing_link() -> None:
    text = article_md(f"{LONG_CHINESE}\n\n[iyiou]({DEEPSEEK_URL})", 'title: t\nurl: "https://example.com/a"')
    article = load(text)
    assert article.source_url == "https://example.com/a"
    assert "iyiou" not in all_text(article)


@pytest.mark.parametrize("value", ["微信公众号", "/news/2025/a.html", "ftp://example.com/a", "mailto:a@b.c",
                                   "www.example.com"])
def test_front_matter_value_that_is_not_an_http_url_is_not_a_source(value: str) -> None:
    text = article_md(LONG_CHINESE, f'title: t\nsource: "{value}"\nurl: "{value}"')
    assert load(text).source_url is None


def test_non_http_front_matter_value_falls_back_to_the_trailing_link() -> None:
    text = article_md(f"{LONG_CHINESE}\n\n[iyiou]({DEEPSEEK_URL})", 'title: t\n来源: "微信公众号"\nsource: "微信公众号"')
    assert load(text).source_url == DEEPSEEK_URL


def test_no_source_anywhere_is_none() -> None:
    assert load(article_md(LONG_CHINESE)).source_url is None


def test_trailing_relative_link_is_body_text_not_a_source() -> None:
    article = load(article_md(f"{LONG_CHINESE}\n\n[上一篇：价格战](../prev.md)"))
    assert article.source_url is None
    assert "上一篇：价格战" in all_text(article)


# --- Markdown cleaning --------------------------------------------------------------------

def test_images_are_removed() -> None:
    text = all_text(load(NEWS_ARTICLE))
    assert "![" not in text
    assert "diting-hetu" not in text
    assert "图片" not in text


def test_news_article_text_has_no_markdown_left() -> None:
    text = all_text(load(NEWS_ARTICLE))
    for leftover in ("![", "](", "**", "|", "<a", "</a>", "==="):
        assert leftover not in text
    assert "DeepSeek-V3 · 557.6万美元" in text
    assert "“DeepSeek时刻”出现" in text


# --- headings, sections, fragments --------------------------------------------------------

def test_setext_and_atx_headings_become_the_paragraph_heading() -> None:
    article = load(NEWS_ARTICLE)
    by_text = {p.text.split("\n")[0][:12]: p.heading for p in article.paragraphs}
    assert by_text["DeepSeek-R1上"] == "欲戴其冠，必承其重"
    assert by_text["这是一家成立于2023年"] == "算力与芯片"
    assert article.paragraphs[0].heading == ""


def test_headings_are_not_paragraphs() -> None:
    article = load(NEWS_ARTICLE)
    for paragraph in article.paragraphs:
        assert "欲戴其冠" not in paragraph.text
        assert "算力与芯片" not in paragraph.text


def test_paragraph_positions_count_from_zero() -> None:
    article = load(NEWS_ARTICLE)
    assert [p.position for p in article.paragraphs] == list(range(len(article.paragraphs)))


def test_short_fragment_never_stands_alone() -> None:
    article = load(NEWS_ARTICLE)
    assert all(p.text != "他的明天，在哪呢？" for p in article.paragraphs)
    assert any("他的明天，在哪呢？" in p.text for p in article.paragraphs)


def test_bundled_corpus_paragraphs_respect_the_limit(bundled_library) -> None:  # type: ignore[no-untyped-def]
    for article in bundled_library.articles:
        for paragraph in article.paragraphs:
            assert 0 < len(paragraph.text) <= MAX_PARAGRAPH_CHARS, article.path


# --- sentences ----------------------------------------------------------------------------


# --- sections: abstract, related topics, summaries -----------------------------------------

def test_summary_section_becomes_the_abstract() -> None:
    article = load(WECHAT_ARTICLE)
    assert article.abstract is not None
    assert article.abstract.startswith("一句话总结：利用 GPT-4o 生成的刻意平庸的 AI 自拍照")


def test_related_topics_wiki_links_become_topics_not_paragraphs() -> None:
    article = load(WECHAT_ARTICLE)
    assert article.topics == ("数字生命卡兹克", "AI", "大模型")
    text = all_text(article)
    assert "[[" not in text
    assert "元语" not in text
    assert all(p.heading != "关联主题" for p in article.paragraphs)


def test_truncated_front_matter_summary_is_not_an_author_summary() -> None:
    assert load(NEWS_ARTICLE).summary is None


def test_complete_front_matter_summary_is_the_author_summary() -> None:
    article = load(article_md(LONG_CHINESE, 'title: t\nsummary: "DeepSeek 用很低的成本训练出了强大的模型。"'))
    assert article.summary == "DeepSeek 用很低的成本训练出了强大的模型。"


@pytest.mark.parametrize(("text", "truncated"), [
    ("此后AI行业每逢重大变革，都...", True),
    ("此后AI行业每逢重大变革，都…", True),
    ("一句完整的话。", False),
])
def test_is_truncated_lead(text: str, truncated: bool) -> None:
    assert is_truncated_lead(text) is truncated


# --- front matter variants and bad input ---------------------------------------------------

def test_no_front_matter_takes_the_title_from_the_first_heading() -> None:
    article = load(f"# 我的标题\n\n{LONG_CHINESE}\n")
    assert article.title == "我的标题"
    assert all_text(article) == LONG_CHINESE


def test_no_front_matter_and_no_heading_takes_the_title_from_the_file_name() -> None:
    assert load(LONG_CHINESE, "notes/价格战.md").title == "价格战"


def test_byte_order_mark_and_crlf_line_ends_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.md"
    text = "\ufeff---\r\ntitle: 标题\r\ndate: 2024-01-02\r\n---\r\n\r\n" + LONG_CHINESE + "\r\n"
    path.write_bytes(text.encode())
    article = load_article(path, read_text(path, 1 << 20))
    assert article.title == "标题"
    assert article.date == datetime(2024, 1, 2)
    assert all_text(article) == LONG_CHINESE


def test_broken_yaml_error_names_the_file_and_a_line() -> None:
    with pytest.raises(CorpusError) as caught:
        load(f"---\ntitle: ok\ntags: [a, b\ndate: x\n---\n\n{LONG_CHINESE}\n", "broken.md")
    assert caught.value.path == Path("broken.md")
    assert caught.value.line is not None
    assert str(caught.value).startswith(f"broken.md:{caught.value.line}: ")
    assert "YAML" in str(caught.value)


def test_broken_yaml_error_names_the_offending_line() -> None:
    with pytest.raises(CorpusError) as caught:
        load(f"---\na: 1\nb: @bad\nc: 2\n---\n\n{LONG_CHINESE}\n", "broken.md")
    assert caught.value.line == 3


def test_front_matter_never_closed_is_an_error_at_line_1() -> None:
    with pytest.raises(CorpusError) as caught:
        load(f"---\ntitle: 没有结束\n\n{LONG_CHINESE}\n", "open.md")
    assert caught.value.line == 1
    assert "never ends" in caught.value.reason


@pytest.mark.parametrize("front", ["- a\n- b", "just a string"])
def test_front_matter_that_is_not_a_mapping_is_an_error(front: str) -> None:
    with pytest.raises(CorpusError, match="not a 'key: value' mapping"):
        load(f"---\n{front}\n---\n\n{LONG_CHINESE}\n")


def test_empty_front_matter_is_allowed() -> None:
    assert load(f"---\n---\n\n{LONG_CHINESE}\n", "empty-front.md").title == "empty-front"


@pytest.mark.parametrize("body", ["", "\n\n", "![只有图片](a.png)", "---\n\n***"])
def test_empty_body_is_an_error(body: str) -> None:
    with pytest.raises(CorpusError, match="no text"):
        load(article_md(body))


def test_binary_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "image.md"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(CorpusError, match="binary"):
        read_text(path, 1 << 20)


def test_non_utf8_file_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "gbk.md"
    path.write_bytes(b"---\ntitle: x\n---\n\n" + "第一行\n".encode() + "第二行是GBK\n".encode("gbk"))
    with pytest.raises(CorpusError) as caught:
        read_text(path, 1 << 20)
    assert caught.value.line == 6
    assert "UTF-8" in caught.value.reason


def test_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.md"
    path.write_text(article_md(LONG_CHINESE * 100), encoding="utf-8")
    with pytest.raises(CorpusError, match="limit"):
        read_text(path, 1024)


def test_missing_file_is_a_corpus_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="cannot read"):
        read_text(tmp_path / "gone.md", 1 << 20)


# --- finding files ------------------------------------------------------------------------

def test_find_markdown_files_is_recursive_sorted_and_skips_readme(tmp_path: Path) -> None:
    root = write_files(tmp_path / "c", {"b/2.md": "x", "a/1.md": "x", "README.md": "x", "a/readme.md": "x",
                                        "notes.txt": "x", "z.markdown": "x"})
    report = LoadReport()
    assert find_markdown_files([root], report) == [root / "a/1.md", root / "b/2.md"]
    assert report.skipped == [] and report.notices == []


def test_empty_folder_is_a_notice_and_missing_folder_is_skipped(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = tmp_path / "missing"
    report = LoadReport()
    assert find_markdown_files([empty, missing], report) == []
    assert [e.path for e in report.notices] == [empty]
    assert [e.path for e in report.skipped] == [missing]
    assert "not a folder" in report.skipped[0].reason


# --- pages of a Hugo site ---------------------------------------------------------------------

HUGO_SITE = {
    "hugo.toml": 'baseURL = "https://blog.example.org/"\n[params]\nversion = "1.42"\n'
                 '[taxonomies]\ntag = "tags"\nseries = "series"\n',
    "content/post/solar.md": '+++\ntitle = "Solar farm opens"\ndate = 2024-05-01\nslug = "solar-farm"\n'
                             'tags = ["energy"]\nseries = ["Riverside"]\n+++\n\n'
                             'The Riverside solar farm opened on Monday with 12,000 panels on old farmland.\n\n'
                             '{{% include "notice.md" %}}\n\nSee also {{< relref "wind.md" >}} for the wind park.\n\n'
                             'This release ships version {{% param version %}} of the tracker.\n',
    "content/post/wind.md": '---\ntitle: Wind park\nsource: https://news.example.com/wind\n---\n\n'
                            'The wind park near the river produces power for eight thousand homes.\n',
    "content/post/draft.md": '---\ntitle: Not yet\ndraft: true\n---\n\nUnfinished thoughts about the farm.\n',
    "content/post/_includes/notice.md": "Tickets for the opening cost five dollars at the gate.\n",
    "content/snippets/index.md": "---\nheadless: true\n---\n",
    "content/snippets/hours.md": "The visitor centre opens at nine every morning.\n",
    "content/post/hours-page.md": '---\ntitle: Visiting hours\n---\n\n{{< snippet "snippets/hours" >}}\n',
    "content/guide/_index.md": "---\ntitle: Guide\n---\n",
    "content/guide/bundle/index.md": "---\ndate: 2024-01-01\n---\n\nA page bundle whose folder names it.\n",
}


@pytest.fixture
def hugo_site(tmp_path: Path) -> Path:
    return write_files(tmp_path / "site", dict(HUGO_SITE))


def hugo_page(root: Path, name: str) -> Article:
    from bot.search.site import open_site

    path = root / "content" / name
    return load_article(path, path.read_text(encoding="utf-8"), site=open_site(root))


def test_a_page_without_a_source_links_to_its_public_url(hugo_site: Path) -> None:
    article = hugo_page(hugo_site, "post/solar.md")
    assert article.source_url == article.page_url == "https://blog.example.org/post/solar-farm/"
    assert article.tags == ("energy", "Riverside")
    assert article.date == datetime(2024, 5, 1)


def test_an_articles_own_source_wins_over_its_public_url(hugo_site: Path) -> None:
    article = hugo_page(hugo_site, "post/wind.md")
    assert article.source_url == "https://news.example.com/wind"
    assert article.page_url == "https://blog.example.org/post/wind/"


def test_includes_bring_their_text_and_links_bring_none(hugo_site: Path) -> None:
    article = hugo_page(hugo_site, "post/solar.md")
    text = all_text(article)
    assert "Tickets for the opening cost five dollars at the gate." in text
    assert "the wind park near the river" not in text.lower()
    assert "See also for the wind park." in text
    assert "version 1.42 of the tracker" in text
    assert article.includes == (str(hugo_site / "content/post/_includes/notice.md"),)


def test_a_headless_bundles_text_appears_where_a_page_includes_it(hugo_site: Path) -> None:
    assert all_text(hugo_page(hugo_site, "post/hours-page.md")) == "The visitor centre opens at nine every morning."


def test_a_draft_is_not_an_article_and_says_why(hugo_site: Path) -> None:
    from bot.search.articles import NotPublished

    with pytest.raises(NotPublished) as caught:
        hugo_page(hugo_site, "post/draft.md")
    assert caught.value.kind == "draft" and "draft" in caught.value.reason


def test_a_section_page_without_text_is_empty(hugo_site: Path) -> None:
    with pytest.raises(CorpusError) as caught:
        hugo_page(hugo_site, "guide/_index.md")
    assert caught.value.kind == "empty"


def test_a_bundle_without_a_title_is_named_after_its_folder(hugo_site: Path) -> None:
    assert hugo_page(hugo_site, "guide/bundle/index.md").title == "bundle"


def test_toml_front_matter_is_read_and_never_quoted(tmp_path: Path) -> None:
    path = write_files(tmp_path, {"p.md": '+++\ndate = "2016-08-19T08:09:26-07:00"\ntitle = "Hello TOML"\n'
                                          'draft = false\n+++\n\nThe first paragraph of the post body.\n'}) / "p.md"
    article = load_article(path, path.read_text(encoding="utf-8"))
    assert article.title == "Hello TOML"
    assert article.date == datetime(2016, 8, 19, 8, 9, 26)
    assert all_text(article) == "The first paragraph of the post body."


def test_a_draft_in_a_plain_folder_is_left_out_too(tmp_path: Path) -> None:
    from bot.search.articles import NotPublished

    path = write_files(tmp_path, {"d.md": "---\ntitle: D\ndraft: true\n---\n\nText.\n"}) / "d.md"
    with pytest.raises(NotPublished):
        load_article(path, path.read_text(encoding="utf-8"))


def test_a_hugo_page_ending_with_a_link_keeps_its_url_and_the_links_text(hugo_site: Path) -> None:
    path = write_files(hugo_site, {"content/post/fonts.md": "---\ntitle: Fonts\n---\n\n"
                                   "A plugin switches off the web fonts the theme loads from abroad.\n\n"
                                   "[Disable Google Fonts](http://blog.example.net/plugin)\n"}) / "content/post/fonts.md"
    article = hugo_page(hugo_site, "post/fonts.md")
    assert article.source_url == "https://blog.example.org/post/fonts/"
    assert all_text(article).endswith("Disable Google Fonts")
    assert path.is_file()
