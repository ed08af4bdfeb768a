"""Articles → extractive summaries: every sentence shown is a verbatim sentence of an article.

How an extract is chosen (and why not TextRank). A summary of ~150 characters has room for
two to five sentences, and a good one says what the article says most often: its recurring
characters, and above all its recurring character pairs and triples (names, products,
figures). So each sentence is worth the *expected overlap* it adds with an ideal summary
whose n-gram counts follow the article's own (KL-Sum's idea, Haghighi & Vanderwende 2009):
an n-gram seen ``c`` times in an article of ``N`` units is expected ``S·c/N`` times in a
summary ``S`` units long, and a sentence earns at most that much for it, so a second
sentence repeating the first earns nothing (redundancy is removed by the objective itself,
not by a separate MMR step). Sentences are picked greedily by gain per character while
they fit the budget, the standard approximation for budgeted submodular maximisation
(Lin & Bilmes 2010), and shown in reading order. Units are characters for Chinese and
words for English, so nothing depends on how jieba segments a sentence, and summarising
runs no tokenizer: it is cheap enough to do on demand for a whole page of a digest.
Centrality (TextRank, LexRank) and a lead bias both did worse on the WeChat benchmark;
so did idf weighting: a summary repeats an article's common words too.

Where the library has author-written summaries (WeChat's 摘要, front-matter summaries), a
*style* is learned from them: how much likelier each character and character pair is in
a summary than in a body (``SummaryStyle``). Written summaries name products, figures and
outcomes and rarely say 我/觉得/真的, so this moves the choice towards sentences that state
facts. ``benchmarks/summaries.md`` measures both, against lead, TextRank and LexRank.

What a reader must be able to follow. A summary is read as a paragraph, so the objective
chooses among *blocks*, not loose sentences: a sentence that needs the one before it (it opens
with 但, 同时, 也就是说, 这, 该, However, This …) comes with its predecessor, and one that needs
the one after it (it ends on a colon, a semicolon or an opening quote; an interview's question)
comes with its continuation, or neither is picked. Never picked at all: what a site puts
around an article (advertising, calls to action, bylines, credits, editor's notes, copyright
notices and disclaimers, greetings, captions), the lines its source repeats in three or more
articles (``bot.search.boilerplate``), questions other than an interview's, and fragments.
"""

from __future__ import annotations

import heapq
import operator
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Generic, Literal, TypeVar

from bot.search.articles import (
    ABSTRACT_HEADINGS,
    Article,
    Paragraph,
)
from bot.search.boilerplate import Boilerplate
from bot.search.library import Library
from bot.search.markup import sentence_spans, split_sentences

SummarySource = Literal["author", "extract"]
REFERENCE_SCALE = 4.0
"""The ideal summary the objective aims at is this many budgets long (a written abstract in the
WeChat corpus is ~4 times a 150-character extract). Measured flat between 3 and 5."""

STYLE_MIN_ARTICLES = 20
"""Fewer author-written summaries than this teach no reliable style; none is used."""
STYLE_SMOOTHING = 5.0
"""Added to every count of the style's likelihood ratio, so that rare pairs get a ratio near 1."""

MIN_UNITS = {"zh": 8, "en": 4}
"""Sentences shorter than this (characters / words) say too little to summarise anything."""
UNTERMINATED_FACTOR = 2
"""A piece with no closing mark (a heading, a caption, a list line) must be this many times longer."""

MAX_LINES = 4
"""A "sentence" joined from more lines than this is a list (of headlines, of names), not a sentence."""
MAX_BLOCK = 3
"""A sentence with the ones it needs (before and after it) is picked as one block of at most this
many sentences; a longer chain is a passage to read, not a summary's sentence."""

MIN_COMPLETED = 10
"""A cut-off front-matter summary shorter than this (characters without spaces) is too little to
say that the body starts with the same words."""
CACHE_SIZE = 4096

_LATIN_WORD = re.compile(r"[a-z0-9]+")
_SENTENCE_END = re.compile(r"[。！？!?；;…][”’」』）)\"']*\s*$")

_OPENS_WITH_PUNCT = re.compile(r"^\s*[，。、：；！？）》」』”’,.:;!?)\]]")
_BULLET = re.compile(r"^\s*•\s*")
_NO_SPACE = re.compile(r"\s+")

_CLAUSE_END = re.compile(r"[，、；：,;:]")

# What a summary never quotes. Matched against ``normalize``d text (NFKC, lower case, Simplified
# script), so one pattern covers Traditional and Simplified, full- and half-width. The patterns
# are the phrases that address the reader (扫码关注, 点击阅读原文), not the topics: an article about
# QR codes, app stores or copyright law is summarised like any other.
_PROMOTION = re.compile(
    r"https?://|www\.|"
    r"点击(?:这里|此处|链接|下方|上方|文末|底部|原文|阅读|查看|关注|订阅|购买|报名|领取|下载|进入|蓝字|卡片|名片|小程序|"
    r"播放|收听|观看)|点此|戳(?:这里|链接|下方|原文)|扫.{0,8}(?:二维码|小程序码)|扫码(?:关注|添加|加入|进|入|报名|领取|购买|下载|订阅|咨询|阅读|收听|观看|看|参与|预约|了解)|扫一扫|"
    r"长按(?:识别|扫码|二维码|图片|关注|添加|保存)|阅读原文|原文链接[:：]|"
    r"点(?:个|一下)关注|(?<![重焦要])点关注|关注(?:我们|本号|本公众号|公众号|我的公众号|我公众号|微信号|官方账号)|关注.{0,12}公众号|"
    r"下载.{0,10}(?:app|客户端)|app.{0,4}下载|(?:立即|马上|现在就|赶快|赶紧|快来|点击)(?:试用|体验|下载|注册|购买|订阅|报名|领取|"
    r"开户|预约|咨询|抢购|加入|查看|收看|收听)|(?:欢迎|点击|免费|一键)订阅|订阅(?:我们|本号|本刊|本频道|专栏|公众号|频道)|"
    r"欢迎(?:大家|各位|关注|订阅|转发|分享|点赞|留言|投稿|转载|加入|扫码|私信|报名|收看|收听|访问|在评论区|向我们)|报料|"
    r"名额有限|报满即止|先到先得|(?:详见|详情见|搜索)(?:微信)?公众号|关注.{0,8}微信(?:号|公众号)?[:：]?[a-z0-9_]{4,}|最新版app|"
    r"评论区(?:留言|交流|见|聊聊|告诉我)|商务合作|广告合作|(?:扫码|拉你|加我|欢迎)(?:进|入|加)群|"
    r"(?:加|添加).{0,6}(?:小助手|客服)微信|(?:设为|加个?|给个?|点个?)星标|星标(?:我们|本号|公众号)|"
    r"(?:一键|求个?|点个?|来个?|顺手|随手)三连|点个?赞.{0,8}(?:在看|转发)|(?:在看|转发).{0,8}(?:点赞|三连)|"
    r"click here|tap here|\bsubscribe\b|\bsign up\b|\bnewsletter\b|follow us|read more|"
    r"download (?:the|our) app|\bsponsored\b|\blearn more\b|\bfind out more\b|attorney advertising|"
    r"[\w.-]+@[\w-]+\.(?:com|net|org|cn)\b")
"""Advertising and calls to action: download the app, scan the code, follow, click, try now, subscribe."""

_CREDIT = re.compile(
    r"^[\W_]{0,3}(?:原标题|原文标题|图片来源|图源|题图|封面图?|来源|稿源|编者按|编者注|编辑注|小编注)\s*[：:｜|丨]|"
    r"^[\W_]{0,3}(?:本文(?:来自|来源|转载|转自|首发|系|由|经|作者)|文章来源|原文来自|编者按|编者的话|编按)|"
    r"[(（【\[][^)）】\]]{0,20}来源\s*[：:｜|丨]|[(（【\[]图[：:/]|图片来源于|"
    r"reporting by|editing by|writing by|additional reporting|written by|compiled by|editor['’]?s note")
"""Credits and editor's notes: where an article or its pictures came from, what its editor adds."""
_BYLINE = re.compile(
    r"^[\W_]{0,3}(?:本文作者|作者|记者|编辑|责任编辑|责编|主编|审核|审校|校对|排版|美编|监制|出品人?|策划|统筹|撰文|"
    r"撰稿|采写|整理|编译|翻译|译者|文字|摄影|视觉|图片|文|图|photos?|images?|credits?|sources?)"
    r"\s*[：:｜|丨/／]\s*(?P<rest>.*)$|"
    r"^[\W_]{0,3}(?:记者|通讯员|特约记者)\s*\S{2,4}(?:\s+\S{2,4}){0,3}\s*(?:报道|摄|采写|发自\S*)?[\W_]*$|"
    r"^[\W_]{0,3}\S{1,10}(?:记者|通讯员)\s+\S{2,4}(?:\s+\S{2,4}){0,3}(?:\s*(?:报道|摄))?[\W_]*$")
"""Bylines: 作者：… / 记者 … 报道 / 文｜… / Photo: … (a label and a few names)."""
_BYLINE_EN = re.compile(r"^\W{0,3}By\s+[A-Z][\w.'’-]*(?:\s+(?:[A-Z][\w.'’-]*|and|&|,))*"
                        r"(?:\s*[,|–—-]\s*[A-Z][\w .'’&-]{0,40})?\W*$")
"""An English byline, "By Jane Doe, Reuters" (read from the text as written: names are capitalised)."""
_NAME_UNIT = re.compile(r"[\u3400-\u9fff]|[a-z0-9]+")

BYLINE_REST = 12
"""A labelled line with more than this (characters, or words) after 作者：/记者：/Photo: is what
someone said or a field being explained, not a byline."""

_DISCLAIMER = re.compile(
    r"免责声明[:：]|^[\W_]{0,3}(?:免责声明|风险提示|特别提示)|风险提示[:：]|不构成(?:任何)?(?:投资|买卖|操作|交易)?建议|"
    r"投资有风险|入市需谨慎|仅供参考|版权(?:所有|声明)|版权归.{0,8}所有|著作权归|"
    r"未经.{0,8}(?:授权|许可|同意).{0,8}(?:转载|使用|复制|摘编)|不得(?:转载|复制|摘编)|(?:禁止|谢绝|欢迎)转载|"
    r"转载(?:请|须|需|时|务必|自)|如有侵权|侵权(?:必究|请|删|联系)|联系删除|"
    r"不代表(?:本|我们的)?(?:站|网|平台|公众号|号|媒体)?(?:的)?(?:观点|立场)|仅代表作者|(?:图片|素材|内容)(?:来源于|来自)网络|"
    r"all rights reserved|copyright\s*(?:©|\(c\)|\d{4})|©|\bdisclaimer\b|"
    r"(?:not|nor) (?:constitute|be construed as|intended as|intended to be) (?:\w+ ){0,3}advice|"
    r"\bnot\b.{0,80}\b(?:investment|financial|legal|tax|other) advice\b|"
    r"for (?:informational|information) purposes only|past performance is no|风险自担|特此声明")
"""Copyright notices, reprint terms and disclaimers (免责声明, 风险提示, 不构成投资建议)."""

_GREETING = re.compile(
    r"^[\W_]{0,3}(?:大家好|各位(?:读者|朋友|观众|听众|同学|老师|家人)?们?好|哈喽|嗨[，,!！]|(?:你|您)好[，,!！。]|"
    r"(?:早上|中午|下午|晚上)好|早安|晚安|新年快乐|欢迎(?:来到|参加|收看|收听|阅读|回到|光临|大家)|"
    r"hello\b|hi\b|hey\b|good (?:morning|afternoon|evening)\b|welcome (?:to|back)\b|"
    r"thanks? (?:you )?for (?:reading|watching|listening)\b)")
"""Greetings and sign-offs: they address the reader, they say nothing about the article."""
_CAPTION = re.compile(
    r"^[\W_]{0,3}(?:[如上下左右首配题附]图|图\s*\d+|图为|图注|截图|(?:左|右)(?:上|下)(?:角|方|图)|"
    r"(?:上|下|左|右)边(?:是|为|的)|(?:photo|image|pictured|above|below)\s*[:：(]|pictured\b)")
"""Captions: a sentence about the picture beside it (右上角，艺术风格迁移；图为…; 如图所示)."""

_QUESTION_END = re.compile(r"[？?][！!？?」』”’）)\"'\s]*$")
_INTERVIEW_QUESTION = re.compile(r"^[\W_]{0,3}(?:q\d*|问|提问|记者|主持人|interviewer)\s*[：:]")
"""An interview's question line (Q: / 问： / 记者：)."""
_SPEAKER = re.compile(r"^[\W_]{0,3}[^\s：:，,。！？!?]{1,12}\s*[：:]")
"""A line that names who speaks ("何小鹏：…", "Q:"): a question there is an interview's."""
_LEADS_ON = re.compile(r"(?:[：:；;]|[「『“‘《（(【\[])[\s*_]*$")
"""A sentence ending on a colon, a semicolon or an opening quote or bracket: its point is in what follows."""

_DEPENDS_ZH = re.compile(
    r"^[\W_]{0,2}(?:但(?!凡)|而(?![今已])|然而|不过|可是|只是|同时|与此同时|此外|另外|另一方面|并且|况且|甚至|"
    r"因此|所以|于是|因而|从而|由此|对此|为此|也就是说|换句话说|换言之|总之|总而言之|反之|相反|否则|"
    r"此[时后前外举]|这(?!几天|两天|几年|些年|周|一年)|那(?:么|些|个|时|就|样)|该|其|他|她|它|前者|后者|后来|接着|随后|之后|然后|最后|"
    r"再者|其次|同样|也(?!许)|还(?!原)|又|更重要|当然)")
"""Chinese openings that point back (但, 同时, 也就是说, 这, 该, 他…): the sentence needs the one before."""
_DEPENDS_EN = re.compile(
    r"^\W{0,2}(?:however|but|and|or|yet|so|also|moreover|furthermore|in addition|additionally|meanwhile|"
    r"therefore|thus|hence|consequently|as a result|instead|nevertheless|nonetheless|besides|likewise|"
    r"similarly|in contrast|on the other hand|otherwise|still|then|that is|in other words|this|that|these|"
    r"those|it|its|it's|he|she|they|his|her|their|them|such|the latter|the former)\b")
"""English openings that point back (However, This, It, They…)."""


def is_site_text(text: str, normalized: str) -> bool:
    """Whether a sentence is what a site puts around an article rather than what the article says:
    advertising and calls to action, bylines and credits, editor's notes, copyright notices and
    disclaimers, greetings and captions. ``normalized`` is the sentence in ``Tokenizer.normalize``'s
    form, so Traditional and Simplified Chinese are recognised alike."""
    if (_PROMOTION.search(normalized) or _DISCLAIMER.search(normalized) or _CREDIT.search(normalized)
            or _GREETING.match(normalized) or _CAPTION.match(normalized)):
        return True
    for line in normalized.split("\n"):
        byline = _BYLINE.match(line.strip())
        if byline:
            rest = byline.group("rest")
            if rest is None or (len(_NAME_UNIT.findall(rest)) <= BYLINE_REST and not _QUESTION_END.search(rest)):
                return True
    return any(_BYLINE_EN.match(line.strip()) for line in text.split("\n"))


def is_question(text: str) -> bool:
    return bool(_QUESTION_END.search(text.rstrip()))


def is_interview_question(text: str, normalized: str) -> bool:
    """A question a speaker label introduces (Q: / 问： / 记者： / 何小鹏：…): its answer follows."""
    return is_question(text) and bool(_INTERVIEW_QUESTION.match(normalized) or _SPEAKER.match(normalized))


def leads_on(text: str) -> bool:
    """Whether a sentence ends on a colon, a semicolon or an opening quote or bracket."""
    return bool(_LEADS_ON.search(text.rstrip()))


def depends_on_previous(normalized: str, chinese: bool) -> bool:
    """Whether a sentence opens with a connective or a pronoun that points at the sentence before it.
    Chinese articles quote English and the other way round, so both lists are tried; ``chinese``
    says which one is tried first only."""
    text = normalized.lstrip()
    patterns = (_DEPENDS_ZH, _DEPENDS_EN) if chinese else (_DEPENDS_EN, _DEPENDS_ZH)
    return any(pattern.match(text) for pattern in patterns)


_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Summary:
    """What an article says, in its own words: verbatim sentences in reading order."""

    text: str
    """The sentences joined for display (line breaks inside a sentence removed)."""
    sentences: tuple[str, ...]
    """Each exactly as it stands in the article (a clipped one ends with "…")."""
    source: SummarySource
    """"author": the article's own summary; "extract": sentences chosen from its body."""
    paragraphs: tuple[int, ...] = ()
    """For an extract, the ``Paragraph.position`` each sentence comes from."""
    follows: tuple[bool, ...] = ()
    """For each sentence, whether it is the one right after the sentence before it in the article
    (a question and its answer, a sentence and the one it points back to): what is read as one
    passage. Empty when unknown."""


@dataclass(frozen=True)
class Candidate:
    """A sentence an extract may use: verbatim text and the paragraph it stands in."""

    text: str
    paragraph: int
    order: int
    boilerplate: bool = False
    """A line its source repeats across articles (``bot.search.boilerplate``): never picked."""


Lines = Callable[[Paragraph], Sequence[bool]]
"""For a paragraph, whether each of its sentences (``markup.sentence_spans``) is boilerplate."""


def is_chinese(lang: str) -> bool:
    return lang.lower().startswith(("zh", "cn", "ja"))

def summary_length(text: str, lang: str) -> int:
    """What a budget counts: non-blank characters for Chinese, words for English."""
    if is_chinese(lang):
        return len(text) - sum(map(str.isspace, text))
    return len(text.split())

def _body(article: Article, body_only: bool) -> list[Paragraph]:
    abstract = article.abstract or ""
    return [paragraph for paragraph in article.paragraphs
            if not (body_only and (paragraph.heading.strip(" :：").casefold() in ABSTRACT_HEADINGS
                                   or (abstract and paragraph.text in abstract)))]

def body_paragraphs(article: Article, body_only: bool = True) -> list[tuple[int, str]]:
    """(position, text) of the paragraphs an extract draws from.

    With ``body_only``, paragraphs of a summary section (摘要 / Summary / TL;DR, or text that
    is part of ``Article.abstract``) are left out, so that an extract is the body's own.
    """
    return [(paragraph.position, paragraph.text) for paragraph in _body(article, body_only)]

def sentence_candidates(article: Article, body_only: bool = True, boilerplate: Lines | None = None) -> list[Candidate]:
    """Every sentence of the body, verbatim, in reading order.

    ``split_sentences`` also ends a sentence at a line break, and WeChat posts break lines
    mid-sentence ("让大家\\n一起用AI，来交个朋友\\n。"), so a piece without a closing mark is
    joined with the next one in the same paragraph (list items stay apart). The joined
    text is still a verbatim slice of the paragraph. ``boilerplate`` marks the lines a source
    repeats; such a line is never joined with the article's own text around it.
    """
    candidates: list[Candidate] = []
    chinese = is_chinese(article.lang)
    for paragraph in _body(article, body_only):
        pieces = [piece for piece in split_sentences(paragraph.text) if piece.strip()]
        flags = list(boilerplate(paragraph)) if boilerplate else []
        if len(flags) != len(pieces):
            flags = [False] * len(pieces)
        joined: list[tuple[str, bool]] = []
        for piece, flag in zip(pieces, flags):
            if joined and joined[-1][1] == flag and _continues(joined[-1][0], piece, chinese):
                joined[-1] = (joined[-1][0] + piece, flag)
            else:
                joined.append((piece, flag))
        for piece, flag in joined:
            piece = _BULLET.sub("", piece.strip())
            if piece:
                candidates.append(Candidate(piece, paragraph.position, len(candidates), flag))
    return candidates

def boilerplate_lines(boilerplate: Boilerplate, article: Article, normalize: Normalize) -> Lines:
    """``Boilerplate.lines`` for an article's paragraphs, normalising the ones that were never
    indexed (an article read apart from the library, as the ROUGE benchmark reads them)."""
    def lines(paragraph: Paragraph) -> Sequence[bool]:
        if not len(boilerplate):
            return ()
        if not paragraph.folded:
            text = paragraph.text
            paragraph = replace(paragraph, folded=tuple(normalize(text[a:b]) for a, b in sentence_spans(text)))
        return boilerplate.lines(article, paragraph)
    return lines

def _continues(previous: str, piece: str, chinese: bool) -> bool:
    """Whether ``piece`` goes on the sentence ``previous`` began (that line had no closing mark).

    Chinese posts wrap lines anywhere, so any unclosed line runs on; in English only a line
    that starts in lower case does (other unclosed lines are headings and headline lists).
    """
    if not piece.strip():
        return True
    if _OPENS_WITH_PUNCT.match(piece) and len(piece.strip()) <= 2:
        return True
    if previous.lstrip().startswith("•") or piece.lstrip().startswith("•") or _SENTENCE_END.search(previous):
        return False
    return chinese or piece.lstrip()[:1].islower() or bool(_OPENS_WITH_PUNCT.match(piece))

def fill_budget(order: Iterable[int], sentences: Sequence[str], lang: str, budget: int) -> list[str]:
    """Sentences taken in ``order`` while they fit the budget (skipping those that do not),
    returned in reading order: how every system in the benchmark spends its budget."""
    chosen: list[int] = []
    used = 0
    for i in order:
        size = summary_length(sentences[i], lang)
        if size and used + size <= budget:
            chosen.append(i)
            used += size
    return [sentences[i] for i in sorted(chosen)]

def display_text(sentences: Sequence[str], lang: str) -> str:
    """Sentences joined as a reader sees them: Chinese without spaces, line breaks removed."""
    if is_chinese(lang):
        return "".join(_SPACES.sub(lambda m: "" if "\n" in m.group() else m.group(), s) for s in sentences)
    return " ".join(_SPACES.sub(" ", s) for s in sentences)

Normalize = Callable[[str], str]

def content_units(normalized: str, chinese: bool) -> list[str]:
    """Characters (letters, digits, CJK) for Chinese; lower-case words for English."""
    if chinese:
        return [ch for ch in normalized if ch.isalnum()]
    return _LATIN_WORD.findall(normalized)

def ngrams(units: Sequence[str], chinese: bool, orders: int = 3) -> tuple[Sequence[str], ...]:
    """Units, pairs and triples (the first ``orders`` of them) as text, in order."""
    if chinese:
        grams: Sequence[str] = "".join(units)
        join = operator.add
    else:
        grams = units

        def join(a: str, b: str) -> str:
            return f"{a} {b}"
    found = [grams]
    for _ in range(orders - 1):
        grams = list(map(join, grams, units[len(found):]))
        found.append(grams)
    return tuple(found)

def ngram_counts(units: Sequence[str], chinese: bool, orders: int = 3) -> tuple[Counter[str], ...]:
    """Counts of units, pairs and triples, keyed by their text."""
    return tuple(Counter(grams) for grams in ngrams(units, chinese, orders))

@dataclass(frozen=True)
class SummaryStyle:
    """How much likelier each unit and pair is in a written summary than in a body.

    Learned from pairs of (summary, body) texts; ``lift`` is a smoothed likelihood ratio.
    """

    summary_counts: tuple[Counter[str], Counter[str]]
    body_counts: tuple[Counter[str], Counter[str]]
    pairs: int
    _memo: tuple[dict[str, float], dict[str, float]] = field(default_factory=lambda: ({}, {}), compare=False,
                                                             repr=False)

    @classmethod
    def learn(cls, examples: Iterable[tuple[str, str, str]], normalize: Normalize) -> SummaryStyle:
        """From (summary, body, lang) triples; all summaries (and all bodies) are counted as one
        text, which is what makes this take a second rather than ten for 350 long posts."""
        texts: dict[tuple[bool, int], list[str]] = {}
        pairs = 0
        for summary, body, lang in examples:
            chinese = is_chinese(lang)
            texts.setdefault((chinese, 0), []).append(summary)
            texts.setdefault((chinese, 1), []).append(body)
            pairs += 1
        counts: tuple[list[Counter[str]], list[Counter[str]]] = ([Counter(), Counter()], [Counter(), Counter()])
        for (chinese, side), parts in texts.items():
            units = content_units(normalize("\n".join(parts)), chinese)
            for total, found in zip(counts[side], ngram_counts(units, chinese, orders=2)):
                total.update(found)
        return cls((counts[0][0], counts[0][1]), (counts[1][0], counts[1][1]), pairs)

    def lifts(self, order: int, keys: Iterable[str]) -> dict[str, float]:
        """``P(key | summary) / P(key | body)``, smoothed, for each key (order 0: units, 1: pairs)."""
        memo = self._memo[order]
        missing = [key for key in keys if key not in memo]
        if missing:
            summary, body = self.summary_counts[order], self.body_counts[order]
            k = STYLE_SMOOTHING
            scale = (sum(body.values()) + 1.0) / (sum(summary.values()) + 1.0)
            memo.update((key, scale * (summary[key] + k) / (body[key] + k)) for key in missing)
        return memo

Grams = tuple[list[tuple[str, int]], list[tuple[str, int]], list[tuple[str, int]]]

@dataclass
class _Sentence:
    candidate: Candidate
    size: int
    """Its length as the budget counts it."""
    units: int
    grams: Grams
    banned: bool = False
    """Never shown: site text, a repeated line, a question outside an interview, a fragment."""
    depends: bool = False
    """Opens by pointing back: shown only after the sentence before it."""
    leads_on: bool = False
    """Ends on a colon, a semicolon or an opening quote, or asks an interview's question: shown only
    before the sentence after it."""

def _sentences(candidates: Sequence[Candidate], lang: str,
               normalize: Normalize) -> tuple[list[_Sentence], tuple[Counter[str], Counter[str], Counter[str]]]:
    """The candidates with their n-grams and what they need, and the n-gram counts of all of them."""
    chinese = is_chinese(lang)
    texts = [c.text for c in candidates]
    normalized = normalize(_SEPARATOR.join(texts)).split(_SEPARATOR)
    if len(normalized) != len(texts):
        normalized = [normalize(text) for text in texts]
    candidates, normalized = _site_lines_apart(candidates, normalized)
    sentences: list[_Sentence] = []
    everything: tuple[list[str], list[str], list[str]] = ([], [], [])
    for candidate, text in zip(candidates, normalized):
        grams = ngrams(content_units(text, chinese), chinese)
        for total, found in zip(everything, grams):
            total.extend(found)
        counts = [Counter(found) for found in grams]
        sentence = _Sentence(candidate, summary_length(candidate.text, lang), len(grams[0]),
                             (list(counts[0].items()), list(counts[1].items()), list(counts[2].items())))
        interview = is_interview_question(candidate.text, text)
        question = is_question(candidate.text)
        answers = bool(sentences) and sentences[-1].leads_on and is_question(sentences[-1].candidate.text)
        sentence.banned = (candidate.boilerplate or is_site_text(candidate.text, text)
                           or not _sentence_like(sentence, chinese) or (question and not interview))
        sentence.depends = depends_on_previous(text, chinese) or (answers and not question)
        sentence.leads_on = interview or leads_on(candidate.text)
        sentences.append(sentence)
    return sentences, (Counter(everything[0]), Counter(everything[1]), Counter(everything[2]))

def _sentence_like(sentence: _Sentence, chinese: bool) -> bool:
    """Long enough to say something, and a sentence rather than a caption or a run of list lines."""
    text = sentence.candidate.text
    minimum = MIN_UNITS["zh" if chinese else "en"]
    if not _SENTENCE_END.search(text) and not leads_on(text):
        minimum *= UNTERMINATED_FACTOR
    return sentence.units >= minimum and text.count("\n") < MAX_LINES

def _site_lines_apart(candidates: Sequence[Candidate], normalized: Sequence[str]) -> tuple[
        list[Candidate], list[str]]:
    """Candidates joined from lines, with a byline, credit or promotion line taken apart from the
    lines around it ("作者 | 某某\\n进入2025年，……" is a byline and a sentence), both verbatim."""
    kept: list[Candidate] = []
    texts: list[str] = []
    for candidate, text in zip(candidates, normalized):
        lines, folded = candidate.text.split("\n"), text.split("\n")
        flags = ([is_site_text(line, low) for line, low in zip(lines, folded)]
                 if len(lines) > 1 and len(lines) == len(folded) else [])
        if not any(flags) or all(flags):
            kept.append(replace(candidate, order=len(kept)))
            texts.append(text)
            continue
        start = 0
        for end in range(1, len(lines) + 1):
            if end == len(lines) or flags[end] != flags[start]:
                piece = "\n".join(lines[start:end]).strip()
                if piece:
                    kept.append(replace(candidate, text=piece, order=len(kept)))
                    texts.append("\n".join(folded[start:end]).strip())
                start = end
    return kept, texts

_SEPARATOR = "\x1e"
"""Joins sentences so that they are normalised in one call (OpenCC per call is the cost)."""

@dataclass
class _ArticleModel:
    """An article's candidate sentences with their n-grams, and its n-gram totals."""

    lang: str
    sentences: list[_Sentence]
    totals: tuple[Counter[str], Counter[str], Counter[str]]
    length: int

    @property
    def chinese(self) -> bool:
        return is_chinese(self.lang)

def _article_model(article: Article, body_only: bool, normalize: Normalize, lines: Lines | None) -> _ArticleModel:
    sentences, totals = _sentences(sentence_candidates(article, body_only, lines), article.lang, normalize)
    return _ArticleModel(article.lang, sentences, totals, sum(totals[0].values()))

def _worths(totals: Sequence[Counter[str]], length: float, scale: float,
            style: SummaryStyle | None) -> tuple[dict[str, float], ...]:
    """Expected count of each n-gram in an ideal summary ``scale`` units long: its share of the
    article, times the style's summary-vs-body ratio (see the module docstring)."""
    share = scale / max(length, 1.0)
    worths = tuple({key: share * count for key, count in counts.items()} for counts in totals)
    if style is not None:
        for order in (0, 1):
            lifts = style.lifts(order, worths[order])
            worth = worths[order]
            for key in worth:
                worth[key] *= lifts[key]
    return worths

def _blocks(sentences: Sequence[_Sentence]) -> list[tuple[int, ...]]:
    """What an extract picks from: each sentence with the ones it needs, the sentence before it
    when it points back and the one after it when it leads on (at most ``MAX_BLOCK`` in all).
    A block is left out when one of them may not be shown, or when it would still start by
    pointing back or end by leading on (the first or last sentence of the body)."""
    blocks: set[tuple[int, ...]] = set()
    for i, sentence in enumerate(sentences):
        if sentence.banned:
            continue
        start, end = i, i
        while sentences[start].depends and start > 0 and end - start < MAX_BLOCK:
            start -= 1
        while sentences[end].leads_on and end + 1 < len(sentences) and end - start < MAX_BLOCK:
            end += 1
        if (end - start < MAX_BLOCK and not sentences[start].depends and not sentences[end].leads_on
                and not any(s.banned for s in sentences[start:end + 1])):
            blocks.add(tuple(range(start, end + 1)))
    return sorted(blocks)

def _choose(sentences: Sequence[_Sentence], blocks: Sequence[tuple[int, ...]], worths: Sequence[dict[str, float]],
            budget: int, counts: Sequence[Counter[str]]) -> list[int]:
    """Greedy budgeted maximisation of covered worth over blocks, with lazy re-evaluation.

    A block costs and earns only what its sentences not yet chosen add: a dependent sentence whose
    predecessor is already in the summary costs itself alone. Gains only shrink as coverage grows,
    so a stale gain per character is an upper bound, and the top of the heap is re-scored and taken
    only if it still beats every other bound; when a block's cost shrinks (a sentence of it was
    chosen with another block) it is re-scored and pushed again, so bounds stay bounds. An n-gram
    that no other sentence has (most triples) always adds the same, so it is summed once instead of
    being tracked; ``counts`` (the n-grams of all ``sentences``) tells which.
    """
    own: dict[int, float] = {}
    shared: dict[int, list[tuple[str, int, float]]] = {}
    for i in sorted({i for block in blocks for i in block}):
        mine = []
        alone = 0.0
        for grams, worth, total in zip(sentences[i].grams, worths, counts):
            for key, count in grams:
                limit = worth.get(key, 0.0)
                if total[key] == count:
                    alone += count if count < limit else limit  # noqa: FURB136 (no call: hot loop)
                else:
                    mine.append((key, count, limit))
        own[i], shared[i] = alone, mine
    covered: dict[str, int] = {}
    taken: set[int] = set()

    def value(b: int) -> tuple[float, int]:
        """(gain, cost) of block ``b`` now."""
        members = [i for i in blocks[b] if i not in taken]
        total = sum(own[i] for i in members)
        grams = shared[members[0]] if len(members) == 1 else _merged(shared, members)
        for key, count, limit in grams:
            have = covered.get(key, 0)
            if have < limit:
                total += min(have + count, limit) - have
        return total, sum(sentences[i].size for i in members)

    containing: dict[int, list[int]] = {}
    heap = []
    for b, block in enumerate(blocks):
        for i in block:
            containing.setdefault(i, []).append(b)
        gain, cost = value(b)
        if cost:
            heap.append((-gain / cost, b))
    heapq.heapify(heap)
    used = 0
    while heap:
        _, b = heapq.heappop(heap)
        gain, cost = value(b)
        if not cost or used + cost > budget:
            continue
        ratio = gain / cost
        if heap and ratio < -heap[0][0]:
            heapq.heappush(heap, (-ratio, b))
            continue
        if ratio <= 0:
            break
        fresh = [i for i in blocks[b] if i not in taken]
        used += cost
        taken.update(fresh)
        for i in fresh:
            for key, count, _ in shared[i]:
                covered[key] = covered.get(key, 0) + count
        for other in {o for i in fresh for o in containing[i]} - {b}:
            gain, cost = value(other)
            if cost:
                heapq.heappush(heap, (-gain / cost, other))
    return sorted(taken)

def _merged(shared: dict[int, list[tuple[str, int, float]]], members: Sequence[int]) -> list[tuple[str, int, float]]:
    """The shared n-grams of several sentences, counts of one n-gram added up."""
    merged: dict[str, tuple[int, float]] = {}
    for i in members:
        for key, count, limit in shared[i]:
            merged[key] = (merged.get(key, (0, limit))[0] + count, limit)
    return [(key, count, limit) for key, (count, limit) in merged.items()]

def _clip(text: str, budget: int, lang: str) -> str:
    """A sentence longer than the whole budget: its head, cut after the last clause that keeps
    at least half of it, with "…" (still the article's words, in its order)."""
    if is_chinese(lang):
        size, end = 0, 0
        for end, ch in enumerate(text, start=1):
            size += not ch.isspace()
            if size >= budget:
                end -= 1
                break
        head = text[:end]
    else:
        head = " ".join(text.split()[:max(budget - 1, 1)])
    marks = [m.start() for m in _CLAUSE_END.finditer(head)]
    if marks and marks[-1] >= len(head) // 2:
        head = head[:marks[-1]]
    return head.rstrip().rstrip("「『“‘《（(【[") + "…"

def author_summary(article: Article) -> str | None:
    """The article's own summary: front matter first (it is meant as one), then a 摘要 section."""
    return article.summary or article.abstract or None

def author_text_summary(text: str, lang: str, budget: int, normalize: Normalize | None = None) -> Summary:
    """An author's summary fitted to the budget: its leading sentences, without label lines
    such as "1) 一句话总结" (short lines with no closing mark followed by more text), and
    without a last sentence that would end on a colon, a semicolon or an opening quote.

    With ``normalize``, what an extract would never show is left out of it too: site text (a
    link, a contact address, a credit), questions and fragments ("1.", "而是…")."""
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    lines = [line for i, line in enumerate(lines)
             if i == len(lines) - 1 or _SENTENCE_END.search(line) or summary_length(line, lang) > 16]
    sentences = [_BULLET.sub("", s.strip()) for line in lines for s in split_sentences(line) if s.strip()]
    if normalize is not None:
        sentences = [s for s in sentences if _showable(s, normalize(s), lang)]
    chosen: list[str] = []
    used = 0
    for sentence in sentences:
        size = summary_length(sentence, lang)
        if used + size > budget:
            break
        chosen.append(sentence)
        used += size
    while len(chosen) > 1 and leads_on(chosen[-1]):
        chosen.pop()
    if not chosen and sentences:
        chosen = [_clip(sentences[0], budget, lang)]
    return Summary(display_text(chosen, lang), tuple(chosen), "author", follows=(False,) + (True,) * (len(chosen) - 1))

def _showable(sentence: str, normalized: str, lang: str) -> bool:
    chinese = is_chinese(lang)
    units = len(content_units(normalized, chinese))
    return (units >= MIN_UNITS["zh" if chinese else "en"] and not is_question(sentence)
            and not is_site_text(sentence, normalized))


def completed(cut: str, candidates: Sequence[Candidate]) -> list[Candidate] | None:
    """The body's first sentences, up to the end of the one where ``cut`` (a summary a feed cut
    off with "…") stops, when the body starts with the same words (spaces aside); else ``None``."""
    head = _NO_SPACE.sub("", cut).rstrip(".…")
    if len(head) < MIN_COMPLETED:
        return None
    taken: list[Candidate] = []
    text = ""
    for candidate in candidates:
        if len(text) >= len(head):
            break
        taken.append(candidate)
        text += _NO_SPACE.sub("", candidate.text)
    return taken if text.startswith(head) else None


class Extractor:
    """Summaries of one library's articles: the author's, or an extract (cached, thread-safe)."""

    def __init__(self, library: Library, budget_zh: int = 150, budget_en_words: int = 55,
                 style: SummaryStyle | None | Literal["auto"] = "auto") -> None:
        """``style``: "auto" learns it from the library's author-written summaries (if there are
        enough); pass a ``SummaryStyle`` to use another, or ``None`` for none."""
        self.library = library
        self.budget_zh = budget_zh
        self.budget_en_words = budget_en_words
        self._style_setting = style
        self._style: SummaryStyle | None = None
        self._style_ready = False
        self._models: _Recent[_ArticleModel] = _Recent()
        self._summaries: _Recent[Summary] = _Recent()

    def budget(self, lang: str) -> int:
        return self.budget_zh if is_chinese(lang) else self.budget_en_words

    @property
    def style(self) -> SummaryStyle | None:
        """The learned summary style (None when the library has too few author summaries)."""
        if not self._style_ready:
            setting = self._style_setting
            self._style = self._learn_style() if setting == "auto" else setting  # type: ignore[assignment]
            self._style_ready = True
        return self._style

    def _learn_style(self) -> SummaryStyle | None:
        """From complete author summaries only: a cut-off lead completed from the body is the body's
        first sentence, and would teach that summaries look like first sentences."""
        examples = []
        for article in self.library.articles:
            written = author_summary(article)
            if written:
                body = "\n".join(text for _, text in body_paragraphs(article))
                examples.append((written, body, article.lang))
        if len(examples) < STYLE_MIN_ARTICLES:
            return None
        return SummaryStyle.learn(examples, self.library.tokenizer.normalize)

    def summarize(self, article: Article, from_body_only: bool = False) -> Summary:
        """The author's summary if the article has one (and ``from_body_only`` is false): complete,
        or cut off by a feed and completed from the body; else the sentences of its body that best
        cover what it says, within the budget."""
        key = (article.path, hash(article.paragraphs), from_body_only)
        cached = self._summaries.get(key)
        if cached is not None:
            return cached
        budget = self.budget(article.lang)
        written = None if from_body_only else author_summary(article)
        summary = (author_text_summary(written, article.lang, budget, self.library.tokenizer.normalize)
                   if written else None)
        if summary is None or not summary.sentences:
            summary = (None if from_body_only else self._completed(article, budget)) or self._extract(article, budget)
        self._summaries.put(key, summary)
        return summary

    def _model(self, article: Article, body_only: bool = True) -> _ArticleModel:
        key = (article.path, hash(article.paragraphs), body_only)
        model = self._models.get(key)
        if model is None:
            normalize = self.library.tokenizer.normalize
            model = _article_model(article, body_only, normalize,
                                   boilerplate_lines(self.library.boilerplate, article, normalize))
            self._models.put(key, model)
        return model

    def _completed(self, article: Article, budget: int) -> Summary | None:
        """A feed's cut-off summary completed from the body, when the body starts with its words
        and every sentence of it may be shown."""
        cut = article.cut_summary
        if cut is None:
            return None
        sentences = self._model(article).sentences
        lead = completed(cut, [s.candidate for s in sentences])
        if not lead or any(s.banned for s in sentences[:len(lead)]) or sentences[len(lead) - 1].leads_on:
            return None
        texts = [c.text for c in lead]
        summary = author_text_summary("\n".join(texts), article.lang, budget)
        return replace(summary, paragraphs=tuple(c.paragraph for c in lead[:len(summary.sentences)]))

    def _extract(self, article: Article, budget: int) -> Summary:
        model = self._model(article)
        sentences = model.sentences
        blocks = _blocks(sentences)
        if not blocks:
            return Summary("", (), "extract")
        worths = _worths(model.totals, model.length, REFERENCE_SCALE * budget, self.style)
        chosen = _choose(sentences, blocks, worths, budget, model.totals)
        if not chosen:
            alone = [block[0] for block in blocks if len(block) == 1]
            if not alone:
                return Summary("", (), "extract")
            best = sentences[alone[0]].candidate
            clipped = _clip(best.text, budget, article.lang)
            return Summary(display_text([clipped], article.lang), (clipped,), "extract", (best.paragraph,), (False,))
        texts = tuple(sentences[i].candidate.text for i in chosen)
        follows = tuple(n > 0 and chosen[n - 1] == i - 1 for n, i in enumerate(chosen))
        return Summary(display_text(texts, article.lang), texts, "extract",
                       tuple(sentences[i].candidate.paragraph for i in chosen), follows)

    def warm(self) -> None:
        """Learn the summary style now (the first summary would)."""
        _ = self.style


V = TypeVar("V")


class _Recent(Generic[V]):
    """The values asked for lately, at most CACHE_SIZE: safe when handlers read and add from several
    threads at once (a get, a move to the end and an eviction are one step under the lock)."""

    def __init__(self) -> None:
        self._items: OrderedDict[tuple[object, ...], V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[object, ...]) -> V | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: tuple[object, ...], value: V) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > CACHE_SIZE:
                self._items.popitem(last=False)
