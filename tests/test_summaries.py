"""Specification of bot/summaries.py: verbatim extractive summaries, author summaries, topics,
forgiving tag/topic names, digests and their multi-article overview.

Every library here is real Markdown written to tmp_path and opened by the real loader; the
corpus has well over six paragraphs.
"""

from __future__ import annotations

import math
import re
import textwrap
from pathlib import Path

import pytest
from conftest import write_files

from bot.config import Settings
from bot.search.articles import Article, Paragraph
from bot.search.library import Library
from bot.search.markup import sentence_spans
from bot.summaries.catalog import Summarizer, newest_first
from bot.summaries.extracts import (
    Candidate,
    Summary,
    SummaryStyle,
    _blocks,
    _choose,
    _sentences,
    _worths,
    author_text_summary,
    display_text,
    fill_budget,
    is_site_text,
    sentence_candidates,
    summary_length,
)

BUDGET_ZH = 150
BUDGET_EN = 55


def _md(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def _news(title: str, date: str, tag: str, lang: str, body: str, summary: str = "") -> str:
    summary_line = f'summary: "{summary}"\n' if summary else ""
    return (f'---\ntitle: "{title}"\ndate: "{date}"\n{summary_line}categories:\n  - "{tag}"\n'
            f'lang:\n  - "{lang}"\ntags:\n  - "{tag}"\n---\n\n{_md(body)}\n[{tag}](https://example.com/{date[:10]})\n')


ARTICLES = {
    "deepseek-iyiou.md": _news(
        "DeepSeek，搅了谁的局？", "2025-02-10 16:26:13", "iyiou", "zh-CN", """
        上一次AI行业引起全民震动还是2022年11月ChatGPT的横空出世，此后AI行业每逢重大变革，都被称为是“ChatGPT时刻”。

        这个词在2024年年底被改写，“DeepSeek时刻”出现，被看作是AI历史上的新转折点。DeepSeek发布的V3模型训练成本仅为557.6万美元。

        DeepSeek-V3在多项评测中与GPT-4o相当，而训练所用的算力只是同类模型的一小部分。这让投资者重新审视AI基础设施的投入。

        英伟达的股价在DeepSeek发布R1模型后的一个交易日内下跌了17%，市值蒸发近6000亿美元。

        国内多家云厂商宣布接入DeepSeek模型，开发者可以用更低的价格调用推理服务。

        欢迎转载，转载时请标明来源为亿欧网。
        """, summary="上一次AI行业引起全民震动还是2022年11月ChatGPT的横空出世，此后AI行业..."),
    "deepseek-cloud.md": _news(
        "云厂商集体接入DeepSeek，价格战再起", "2025-02-12 09:00:00", "iyiou", "zh-CN", """
        春节后，阿里云、腾讯云和百度智能云先后宣布接入DeepSeek-R1模型，并推出限时免费的调用额度。

        业内人士认为，DeepSeek开源模型降低了云厂商的模型成本，价格战将从模型层蔓延到算力层。

        一位云厂商的产品经理表示，接入DeepSeek后，新注册的企业客户数量在一周内增长了三倍。

        但也有分析师提醒，免费额度只是获客手段，长期来看云厂商仍需依靠增值服务盈利。

        欢迎转载，转载时请标明来源为亿欧网。
        """),
    "tariff-iyiou.md": _news(
        "特朗普加征关税，出口企业如何应对", "2025-02-11 10:30:00", "iyiou", "zh-CN", """
        特朗普宣布对进口商品加征关税后，多家出口企业开始调整供应链布局。

        一家家电企业的负责人说，公司已把部分产能转移到东南亚，以降低关税带来的成本压力。

        分析人士指出，关税政策的不确定性让企业更难制定长期投资计划。

        欢迎转载，转载时请标明来源为亿欧网。
        """),
    "tariff-hk.md": _news(
        "特朗普簽對等關稅備忘錄 港股急跌", "2025-02-14 08:35:38", "明報", "zh-HK", """
        美國總統特朗普簽署對等關稅備忘錄，要求下屬針對各個國家評估制定對等關稅，或於4月落地。

        恒生指數早段急跌三百點，科技股普遍受壓，市場憂慮貿易戰再度升級。

        分析員指出，對等關稅未立即實施，為通過談判解決貿易糾紛留出空間，投資者毋須過度恐慌。
        """),
    "tariff-world.md": _news(
        "欧盟回应美国关税威胁", "2025-02-13 12:00:00", "wallstreetcn", "zh-CN", """
        欧盟委员会表示，如果美国对欧盟商品加征关税，欧盟将采取坚决的反制措施。

        欧洲汽车制造商对关税问题最为担忧，德国车企的股价在消息公布后普遍下跌。

        泛华保险的投资人则担心，贸易摩擦会进一步拖累资本市场的表现。
        """),
    "bitcoin-en.md": _news(
        "Michigan proposes a strategic Bitcoin reserve bill", "2025-02-09 18:00:00", "Cointelegraph", "en", """
        Michigan has become the latest US state to propose a strategic Bitcoin reserve bill for its treasury.

        The bill would let the state treasurer invest up to ten percent of public funds in digital assets.

        Twenty states have now introduced similar legislation since the start of the year, according to public records.

        Supporters say a reserve would protect state savings from inflation over the coming decade.

        Critics warn that the price of Bitcoin is too volatile for money that pays for schools and roads.

        The bill now goes to the House committee on government operations for a first hearing next month.
        """),
    "author-summary.md": _news(
        "DeepSeek开源周第一天发布FlashMLA", "2025-02-08 10:00:00", "leinews", "zh-CN", """
        DeepSeek在开源周的第一天发布了FlashMLA，这是一个针对Hopper架构显卡优化的高效解码内核。

        FlashMLA在H800上可以达到每秒3000GB的内存带宽和580万亿次浮点运算的算力。

        开发者社区对这个项目反应热烈，发布一小时内就在GitHub上获得了一千多颗星。
        """, summary="DeepSeek开源周第一天发布FlashMLA解码内核，在H800上带宽达3000GB/s。"),
    "wechat.md": _md("""
        ---
        title: "GPT4o生成的烂自拍，反而比我们更真实。"
        发布日期: 2025-04-30
        作者: "数字生命卡兹克"
        原文链接: "https://mp.weixin.qq.com/s?__biz=MzIyMzA5NjEyMA==&mid=2647670743"
        ---

        ## 摘要

        **1) 一句话总结**
        近期利用GPT-4o生成的刻意平庸、带有瑕疵的AI自拍照在网络爆火，这种不完美反而命中了人类对真实生活的感知。

        **2) 关键要点**
        * **核心提示词**：提示词明确要求平凡无奇的iPhone自拍照、运动模糊和曝光过度。

        ## 正文

        我是没想到，GPT4o用一段小小的Prompt生成的一些图片，引发的热度浪潮能有这么长久。

        我相信无数人都在社交平台里，刷到过这些看起来很随意、甚至有点糊的自拍图。

        这个玩法最早来自Reddit上的一个论坛，有网友想绕过限制，结果意外得到了极具真实感的照片。

        提示词完全摒弃完美主义，要求画面没有明确主体，带一点运动模糊和曝光过度。

        粗糙的、未经修饰的画面，还原了生活里没有表演的瞬间，所以大家才会觉得真实。

        ## 关联主题

        - [[00-元语/AI]]
        - [[00-元语/GPT-4o]]
        """),
}


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Library:
    root = tmp_path_factory.mktemp("summaries")
    corpus = write_files(root / "corpus", ARTICLES)
    return Library.open(Settings(corpus=(corpus,), cache_dir=root / "cache", workers=1))


@pytest.fixture(scope="module")
def summarizer(library: Library) -> Summarizer:
    return Summarizer(library, budget_zh=BUDGET_ZH, budget_en_words=BUDGET_EN)


def by_name(library: Library, name: str) -> Article:
    return next(a for a in library.articles if Path(a.path).name == name)


def assert_verbatim_in_order(article: Article, sentences: tuple[str, ...]) -> None:
    """Each sentence stands word for word in a paragraph, and they follow the article's order."""
    places = []
    for sentence in sentences:
        text = sentence.removesuffix("…")
        found = [(p.position, p.text.find(text)) for p in article.paragraphs if text in p.text]
        assert found, f"{sentence!r} is not a verbatim sentence of {article.path}"
        places.append(found[0])
    assert places == sorted(places), "sentences are not in reading order"


# --- extracts ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["deepseek-iyiou.md", "deepseek-cloud.md", "tariff-hk.md"])
def test_chinese_extracts_are_verbatim_in_reading_order_and_fit_the_budget(
        library: Library, summarizer: Summarizer, name: str) -> None:
    article = by_name(library, name)
    summary = summarizer.summarize(article, from_body_only=True)
    assert summary.source == "extract"
    assert summary.sentences
    assert_verbatim_in_order(article, summary.sentences)
    assert 80 <= summary_length(summary.text, article.lang) <= BUDGET_ZH
    assert summary.text == "".join(summary.sentences)
    assert len(summary.paragraphs) == len(summary.sentences)


def test_traditional_chinese_stays_traditional(library: Library, summarizer: Summarizer) -> None:
    summary = summarizer.summarize(by_name(library, "tariff-hk.md"))
    assert "關稅" in summary.text or "貿易" in summary.text
    assert "关税" not in summary.text


def test_english_extracts_count_words(library: Library, summarizer: Summarizer) -> None:
    article = by_name(library, "bitcoin-en.md")
    summary = summarizer.summarize(article)
    assert summary.source == "extract"
    assert_verbatim_in_order(article, summary.sentences)
    assert 40 <= len(summary.text.split()) <= BUDGET_EN
    assert summary.text == " ".join(summary.sentences)


def test_boilerplate_shared_by_articles_is_never_chosen(library: Library, summarizer: Summarizer) -> None:
    for name in ("deepseek-iyiou.md", "deepseek-cloud.md", "tariff-iyiou.md"):
        assert "转载" not in summarizer.summarize(by_name(library, name)).text


def test_a_tiny_budget_clips_the_best_sentence_and_says_so(library: Library) -> None:
    article = by_name(library, "deepseek-iyiou.md")
    summary = Summarizer(library, budget_zh=12).summarize(article)
    assert len(summary.sentences) == 1
    assert summary.text.endswith("…")
    assert summary_length(summary.text, article.lang) <= 12
    assert_verbatim_in_order(article, summary.sentences)


def test_summaries_are_cached_per_article(library: Library, summarizer: Summarizer) -> None:
    article = by_name(library, "deepseek-cloud.md")
    assert summarizer.summarize(article) is summarizer.summarize(article)


# --- author summaries ----------------------------------------------------------------------

def test_an_author_summary_is_preferred(library: Library, summarizer: Summarizer) -> None:
    article = by_name(library, "author-summary.md")
    summary = summarizer.summarize(article)
    assert summary.source == "author"
    assert summary.text == article.summary
    assert summarizer.summarize(article, from_body_only=True).source == "extract"


def test_a_truncated_lead_is_completed_from_the_body(library: Library, summarizer: Summarizer) -> None:
    article = by_name(library, "deepseek-iyiou.md")
    assert article.summary is None  # the front matter's "…" lead is not a summary as it stands
    summary = summarizer.summarize(article)
    assert summary.source == "author"
    assert summary.sentences == ("上一次AI行业引起全民震动还是2022年11月ChatGPT的横空出世，此后AI行业每逢重大变革，"
                                 "都被称为是“ChatGPT时刻”。",)
    assert_verbatim_in_order(article, summary.sentences)


def test_a_wechat_abstract_is_the_author_summary_without_its_labels(library: Library,
                                                                   summarizer: Summarizer) -> None:
    summary = summarizer.summarize(by_name(library, "wechat.md"))
    assert summary.source == "author"
    assert summary.text.startswith("近期利用GPT-4o生成的")
    assert "一句话总结" not in summary.text
    assert summary_length(summary.text, "zh") <= BUDGET_ZH


def test_from_the_body_alone_skips_the_abstract_section(library: Library, summarizer: Summarizer) -> None:
    article = by_name(library, "wechat.md")
    summary = summarizer.summarize(article, from_body_only=True)
    assert summary.source == "extract"
    body = [p for p in article.paragraphs if p.heading == "正文"]
    for sentence in summary.sentences:
        assert any(sentence in p.text for p in body), sentence
    assert all(c.text not in (article.abstract or "") for c in sentence_candidates(article))


def test_author_text_longer_than_the_budget_keeps_its_leading_sentences() -> None:
    text = "1) 一句话总结\n" + "这是第一句很长的总结，说明了文章的核心观点和主要结论。" * 2 + "\n\n2) 关键要点\n• 要点一：" + "细节" * 80
    summary = author_text_summary(text, "zh", 60)
    assert summary.source == "author"
    assert summary.sentences[0] == "这是第一句很长的总结，说明了文章的核心观点和主要结论。"
    assert summary_length(summary.text, "zh") <= 60


# --- topics and names ----------------------------------------------------------------------

def test_topics_are_title_words_shared_across_the_library(library: Library, summarizer: Summarizer) -> None:
    assert "DeepSeek" in summarizer.topics(by_name(library, "deepseek-cloud.md"))
    assert "关税" in summarizer.topics(by_name(library, "tariff-hk.md"))
    wechat = summarizer.topics(by_name(library, "wechat.md"))
    assert wechat[:2] == ("AI", "GPT-4o")


@pytest.mark.parametrize(("typed", "kind", "name"), [
    ("iyiou", "tag", "iyiou"),
    ("IYIOU", "tag", "iyiou"),
    ("iyou", "tag", "iyiou"),
    ("明报", "tag", "明報"),
    ("deep seek", "topic", "DeepSeek"),
    ("DEEPSEEK", "topic", "DeepSeek"),
    ("關稅", "topic", "关税"),
])
def test_names_resolve_forgivingly(summarizer: Summarizer, typed: str, kind: str, name: str) -> None:
    resolution = summarizer.resolve(typed)
    assert (resolution.kind, resolution.name) == (kind, name)
    assert resolution.articles


def test_an_unknown_name_falls_back_to_the_articles_that_mention_it(library: Library,
                                                                   summarizer: Summarizer) -> None:
    resolution = summarizer.resolve("泛华保险")
    assert resolution.kind == "search"
    assert [Path(a.path).name for a in resolution.articles] == ["tariff-world.md"]


def test_nothing_found_gives_suggestions(summarizer: Summarizer) -> None:
    resolution = summarizer.resolve("zzqqxx")
    assert resolution.kind == "none"
    assert not resolution.articles
    assert "iyiou" in resolution.suggestions


def test_tags_and_top_topics_with_counts(summarizer: Summarizer) -> None:
    entries = {(e.name, e.kind): e.total for e in summarizer.tags()}
    assert entries[("iyiou", "tag")] == 3
    assert entries[("Cointelegraph", "tag")] == 1
    assert entries[("DeepSeek", "topic")] >= 3
    kinds = [e.kind for e in summarizer.tags()]
    assert kinds == sorted(kinds, key=lambda k: k != "tag"), "tags come before topics"


# --- digests ---------------------------------------------------------------------------------

def test_a_digest_is_newest_first_and_paged(summarizer: Summarizer) -> None:
    first = summarizer.digest("iyiou", page=1, per_page=2)
    second = summarizer.digest("iyiou", page=2, per_page=2)
    assert (first.kind, first.name, first.total, first.pages) == ("tag", "iyiou", 3, 2)
    assert (len(first.items), len(second.items)) == (2, 1)
    dates = [item.article.date_text for item in first.items + second.items]
    assert dates == ["2025-02-12", "2025-02-11", "2025-02-10"]
    assert all(item.summary.text for item in first.items)
    assert summarizer.digest("iyiou", page=99, per_page=2).page == 2


def test_the_overview_describes_the_articles_with_claims_taken_from_them(summarizer: Summarizer) -> None:
    digest = summarizer.digest("iyiou")
    articles = summarizer.resolve("iyiou").articles
    texts = [o.text for o in digest.overview]
    assert 2 <= len(texts) <= 3
    assert texts[0] == "共 3 篇文章，发布于 2025年2月10日至2月12日。"
    assert f"《{articles[0].title}》" in texts[-1] and "2025年2月12日" in texts[-1]
    assert summarizer.digest("iyiou", page=2, per_page=1).overview == ()


def test_a_digest_of_nothing_carries_suggestions(summarizer: Summarizer) -> None:
    digest = summarizer.digest("zzqqxx")
    assert (digest.kind, digest.total, digest.items) == ("none", 0, ())
    assert digest.suggestions


def test_latest_and_lookups(library: Library, summarizer: Summarizer) -> None:
    latest = summarizer.latest(3)
    assert [item.article for item in latest] == newest_first(library.articles)[:3]
    article = by_name(library, "bitcoin-en.md")
    assert summarizer.article(article.path) is article
    assert summarizer.article("bitcoin-en.md") is article
    assert summarizer.article("no-such-file.md") is None
    found = summarizer.best_for("Michigan bitcoin reserve")
    assert found is not None and found.article is article


def test_warm_precomputes_without_changing_results(library: Library) -> None:
    fresh = Summarizer(library)
    fresh.warm()
    assert fresh.resolve("deep seek").name == "DeepSeek"


# --- building blocks ---------------------------------------------------------------------------

def test_fill_budget_skips_what_does_not_fit_and_keeps_reading_order() -> None:
    sentences = ["一二三四五。", "六七八九十一二三四五。", "六七。"]
    assert fill_budget([1, 2, 0], sentences, "zh", 14) == ["六七八九十一二三四五。", "六七。"]
    assert fill_budget([2, 1, 0], sentences, "zh", 9) == ["一二三四五。", "六七。"]
    assert fill_budget([0, 1], ["a b c.", "d e."], "en", 4) == ["a b c."]


def test_display_text_joins_wrapped_lines() -> None:
    assert display_text(["让大家\n一起用AI。", "好。"], "zh") == "让大家一起用AI。好。"
    assert display_text(["One line\nwrapped.", "Two."], "en") == "One line wrapped. Two."


def test_wrapped_chinese_lines_are_one_sentence_but_list_items_stay_apart() -> None:
    text = "所以不如办个线下活动，让大家\n一起用AI，来交个朋友\n。\n• 第一点没有句号\n• 第二点"
    article = Article(path="x.md", title="t", date=None, tags=(), source_url=None, lang="zh",
                      paragraphs=(Paragraph(0, text),))
    texts = [c.text for c in sentence_candidates(article)]
    assert texts == ["所以不如办个线下活动，让大家\n一起用AI，来交个朋友\n。", "第一点没有句号", "第二点"]


def test_english_headline_lines_are_not_run_together() -> None:
    text = "Markets fell on Friday\nApple Stock Upcoming Splits\nthat nobody expected."
    article = Article(path="x.md", title="t", date=None, tags=(), source_url=None, lang="en",
                      paragraphs=(Paragraph(0, text),))
    texts = [c.text for c in sentence_candidates(article)]
    assert texts == ["Markets fell on Friday", "Apple Stock Upcoming Splits\nthat nobody expected."]


def test_a_style_learned_from_summaries_prefers_their_words() -> None:
    style = SummaryStyle.learn([("发布了新模型。", "我觉得真的很好玩，发布了新模型。", "zh")] * 100, lambda s: s)
    lifts = style.lifts(0, ["发", "我"])
    assert lifts["发"] > 1 > lifts["我"]


def test_pages_never_overlap(summarizer: Summarizer) -> None:
    total = summarizer.digest("关税", per_page=1).total
    seen = [summarizer.digest("关税", page=p, per_page=1).items[0].article.path
            for p in range(1, math.ceil(total / 1) + 1)]
    assert len(seen) == len(set(seen)) == total


def test_a_name_typed_with_a_space_finds_the_articles_that_write_it_as_one_word(
        bundled_library: Library) -> None:
    resolution = Summarizer(bundled_library).resolve("deep seek")
    assert resolution.kind == "search" and resolution.articles
    assert all("deepseek" in " ".join(p.text for p in a.paragraphs).lower() for a in resolution.articles)


def test_many_threads_summarize_and_browse_one_fresh_summarizer_at_once(library: Library) -> None:
    """Handlers run in threads: the lazily built tables and the recent-summary caches must hold."""
    import threading

    expected = Summarizer(library, budget_zh=BUDGET_ZH, budget_en_words=BUDGET_EN)
    answers = {"tags": expected.tags(), "latest": expected.latest(5),
               "digest": expected.digest("iyiou").items}
    shared = Summarizer(library, budget_zh=BUDGET_ZH, budget_en_words=BUDGET_EN)
    failures: list[BaseException] = []
    mismatches: list[str] = []

    def browse() -> None:
        try:
            for _ in range(20):
                if shared.tags() != answers["tags"]:
                    mismatches.append("tags")
                if shared.latest(5) != answers["latest"]:
                    mismatches.append("latest")
                if shared.digest("iyiou").items != answers["digest"]:
                    mismatches.append("digest")
        except BaseException as error:  # noqa: BLE001 - the test reports whatever a thread hit
            failures.append(error)

    threads = [threading.Thread(target=browse) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [] and mismatches == []


# --- summaries a reader can follow ---------------------------------------------------------

def _filler(n: int, place: str) -> str:
    """Sentences about something else in ``place`` (each article its own, so that no line repeats
    across articles), indented as the bodies below are: the budget has to choose."""
    topics = ["公园里的樱花今年开得比往年早一些，游客络绎不绝。", "图书馆延长了周末的开放时间，方便学生自习。",
              "本地的篮球联赛进入了季后赛阶段，比赛十分激烈。", "天气预报说下周会有一场降温，提醒市民添衣。",
              "老城区的咖啡馆越来越多，成了年轻人聚会的地方。", "社区医院开设了夜间门诊，缓解了看病难的问题。"]
    return "\n\n        ".join(place + topics[i % len(topics)] for i in range(n))


RULES = {
    "metro.md": _news("地铁新线路获批", "2025-02-10 08:00:00", "city", "zh-CN", f"""
        城市交通拥堵问题由来已久，许多市民每天通勤要花两个小时。

        地铁新线路的规划历经五年讨论，终于在今年获得批准。

        但地铁新线路建成后，地铁新线路沿线的通勤时间将缩短一半，地铁新线路预计明年通车。

        {_filler(6, "东城")}
        """),
    "interview.md": _news("对话何小鹏：做一个真正的CEO", "2025-02-11 08:00:00", "city", "zh-CN", f"""
        为什么做CEO这么难，做CEO的人都这么累？

        晚点：你现在想做CEO了吗？

        何小鹏：想做CEO，做CEO就是要对公司的CEO职责全部负责，我已经学会了做CEO。

        {_filler(3, "西城")}
        """),
    "site.md": _news("华为发布鸿蒙新版本", "2025-02-12 08:00:00", "city", "zh-CN", f"""
        作者：华为鸿蒙

        立即試用華為鸿蒙「信號」全方位華為鸿蒙分析系統，運用100+華為鸿蒙條件。

        欢迎参加华为鸿蒙开发者大会！

        右上角，华为鸿蒙的华为鸿蒙设置；

        华为发布了鸿蒙系统的新版本，鸿蒙系统的设备数量已经超过十亿台。

        免责声明：华为鸿蒙相关内容不构成投资建议。

        {_filler(6, "南城")}
        """),
    "colon.md": _news("芯片出口新规", "2025-02-13 08:00:00", "city", "zh-CN", f"""
        芯片出口新规的芯片企业和芯片行业回应如下：

        芯片企业表示将调整芯片供应链，芯片行业整体影响有限。

        {_filler(6, "北城")}
        """, summary="完全不同的开头，与正文的第一句并不相同的一段文字..."),
}
REPEATED_LINE = "华为观察家每周与您聊华为新机和华为芯片的华为故事。"
for number in range(3):
    RULES[f"repeated-{number}.md"] = _news(
        f"华为新闻第{number}期", f"2025-02-0{number + 1} 08:00:00", "city", "zh-CN", f"""
        华为本周发布了第{number}款折叠屏手机，华为折叠屏手机的销量持续增长。

        {REPEATED_LINE}

        {_filler(4, f"第{number}区")}
        """)


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> Summarizer:
    root = tmp_path_factory.mktemp("rules")
    corpus = write_files(root / "corpus", RULES)
    return Summarizer(Library.open(Settings(corpus=(corpus,), cache_dir=root / "cache", workers=1)))


def _summary(summarizer: Summarizer, name: str) -> Summary:
    return summarizer.summarize(by_name(summarizer.library, name))


def test_a_sentence_that_points_back_comes_right_after_its_predecessor(rules: Summarizer) -> None:
    summary = _summary(rules, "metro.md")
    dependent = "但地铁新线路建成后，地铁新线路沿线的通勤时间将缩短一半，地铁新线路预计明年通车。"
    assert dependent in summary.sentences  # the article's most informative sentence: picked, with what it needs
    at = summary.sentences.index(dependent)
    assert at > 0 and summary.sentences[at - 1] == "地铁新线路的规划历经五年讨论，终于在今年获得批准。"
    assert summary.follows[at]


def test_blocks_never_start_by_pointing_back_nor_end_leading_on() -> None:
    texts = ["但这句话开头就在转折，说的是前面的事情。", "芯片行业的回应如下：", "芯片企业会调整供应链，影响有限。",
             "这个结论来自上面的调查，调查覆盖了百家企业。", "为什么芯片这么重要，没有人说得清楚？",
             "记者：芯片企业现在最担心什么？", "张总：最担心的是供应链的稳定，其次才是价格。"]
    sentences, totals = _sentences([Candidate(t, n, n) for n, t in enumerate(texts)], "zh", str.lower)
    blocks = _blocks(sentences)
    assert (1, 2) in blocks and (2, 3) in blocks  # a lead-in with its continuation; "这…" after its predecessor
    assert all(not sentences[b[0]].depends and not sentences[b[-1]].leads_on for b in blocks)
    assert not any(0 in b or 4 in b for b in blocks)  # nothing before the first; a rhetorical question
    assert (5, 6) in blocks and (6,) not in blocks and (5,) not in blocks  # an interview's question with its answer
    worths = _worths(totals, sum(totals[0].values()), 300.0, None)
    chosen = _choose(sentences, [(3,), (2, 3)], worths, 40, totals)
    assert 3 not in chosen or 2 in chosen


def test_a_question_is_shown_only_as_an_interview_question_with_its_answer(rules: Summarizer) -> None:
    summary = _summary(rules, "interview.md")
    assert "为什么做CEO这么难，做CEO的人都这么累？" not in summary.sentences
    question = "晚点：你现在想做CEO了吗？"
    assert question in summary.sentences
    at = summary.sentences.index(question)
    assert summary.sentences[at + 1].startswith("何小鹏：想做CEO") and summary.follows[at + 1]


def test_advertising_bylines_greetings_captions_and_disclaimers_are_never_picked(rules: Summarizer) -> None:
    summary = _summary(rules, "site.md")
    assert summary.source == "extract"
    assert "华为发布了鸿蒙系统的新版本，鸿蒙系统的设备数量已经超过十亿台。" in summary.sentences
    for text in ("作者", "立即試用", "欢迎参加", "右上角", "免责声明"):
        assert text not in summary.text


@pytest.mark.parametrize("text", [
    "立即試用EJFQ「信號」全方位股票分析系統，運用100+選股條件篩選值博股", "作者：张三", "记者 李四 报道",
    "By Jane Doe, Reuters", "免责声明：本文不构成投资建议。", "本文来自华尔街见闻，欢迎下载APP查看更多",
    "欢迎参加人工智能行动峰会！", "右上角，艺术风格迁移；", "扫码关注公众号，获取更多资料。", "责任编辑：王五"])
def test_site_text_is_recognised(rules: Summarizer, text: str) -> None:
    assert is_site_text(text, rules.library.tokenizer.normalize(text))


@pytest.mark.parametrize("text", [
    "二维码支付在中国已经非常普及。", "作者认为，关税政策的不确定性会让企业更难做长期投资计划。",
    "The company said revenue rose 12% in the fourth quarter.", "记者会上，发言人回应了关于芯片出口的问题。"])
def test_the_articles_own_sentences_are_not_site_text(rules: Summarizer, text: str) -> None:
    assert not is_site_text(text, rules.library.tokenizer.normalize(text))


def test_lines_a_source_repeats_are_never_picked(rules: Summarizer) -> None:
    article = by_name(rules.library, "repeated-0.md")
    paragraph = next(p for p in article.paragraphs if REPEATED_LINE in p.text)
    lines = [paragraph.text[a:b].strip() for a, b in sentence_spans(paragraph.text)]
    flags = rules.library.boilerplate.lines(article, paragraph)
    assert [line for line, flag in zip(lines, flags) if flag] == [REPEATED_LINE]  # found from the collection
    assert not is_site_text(REPEATED_LINE, REPEATED_LINE)  # and by nothing else
    for number in range(3):
        summary = _summary(rules, f"repeated-{number}.md")
        assert summary.sentences and REPEATED_LINE not in summary.text


def test_a_lead_in_is_shown_with_its_continuation_and_never_last(rules: Summarizer) -> None:
    summary = _summary(rules, "colon.md")
    assert summary.source == "extract"  # its cut-off summary does not start the body: no completion
    for at, sentence in enumerate(summary.sentences):
        if sentence.endswith(("：", "；")):
            assert at + 1 < len(summary.sentences) and summary.follows[at + 1]
    assert "芯片出口新规的芯片企业和芯片行业回应如下：芯片企业表示将调整芯片供应链" in summary.text


def test_an_overviews_counts_dates_titles_and_topics_come_from_its_articles(summarizer: Summarizer) -> None:
    articles = summarizer.library.articles
    overview = summarizer.overview(articles)
    text = "".join(o.text for o in overview)
    assert f"共 {len(articles)} 篇文章" in text
    dates = sorted(a.date for a in articles if a.date)
    assert f"{dates[0].year}年{dates[0].month}月{dates[0].day}日" in text
    assert f"{dates[-1].month}月{dates[-1].day}日" in text
    for topic, count in re.findall(r"[：、]([^：、（]+)（(\d+) 篇）", text):
        holding = [a for a in articles if topic in summarizer.topics(a)]
        assert len(holding) == int(count) >= 2
        normalize = summarizer.library.tokenizer.normalize
        assert all(normalize(topic) in normalize(a.title) or topic in a.topics for a in holding)
    newest = newest_first(articles)[0]
    assert f"《{newest.title}》" in text
    assert all(o.article in articles for o in overview)


def test_an_overview_of_english_articles_is_in_english(summarizer: Summarizer) -> None:
    bitcoin = by_name(summarizer.library, "bitcoin-en.md")
    overview = summarizer.overview([bitcoin, bitcoin])
    assert overview[0].text == "2 articles, published Feb 9, 2025."
    assert overview[-1].text == f"Newest: “{bitcoin.title}” (Feb 9, 2025)."
