"""Text → tokens, the same for articles and questions: the only module that imports jieba, rjieba and OpenCC.

Why each step:
- NFKC and lower case: full-width letters and digits (ＤｅｅｐＳｅｅｋ, １２３) match their ASCII forms.
- Traditional → Simplified (OpenCC, phrase-aware): a question in either script finds an article in the other.
- Latin words and numbers are kept whole (``deepseek-v3``, ``557.6``, ``h200``) and hyphenated
  ones also by part, so "DeepSeek V3" matches "DeepSeek-V3".
- jieba's words (its dictionary, HMM off) for Chinese, plus character bigrams of each Chinese
  run: names jieba does not know (邓飏, 白尾雀鲷) still match, since their bigrams are the same in
  the question and in the article whatever jieba does with them. The words come from rjieba
  (jieba-rs, the same dictionary and algorithm in Rust, ~9× faster) where it is installed, else
  from jieba itself, which stays the reference: ``tests/test_segmenter.py`` holds the two to
  identical tokens on real articles and hostile text, so both give the same index (and cache key).
  Each segmenter is our own instance, never the module's global one.
- Stop-words, question words (什么, 哪里, 多少, what, which …) and punctuation are dropped: a
  passage must not win because it shares "哪一年" with the question.
"""

from __future__ import annotations

import logging
import os
import pickle
import re
import tempfile
import threading
import unicodedata
import warnings
from collections.abc import Iterator, Sequence
from functools import cached_property
from importlib.util import find_spec
from itertools import groupby
from typing import TYPE_CHECKING, Any, Protocol

import opencc
import Stemmer

if TYPE_CHECKING:
    import jieba

TOKENIZER_VERSION = "9"
"""Bump when tokens change, so that cached indexes are rebuilt."""

_LATIN = re.compile(r"[a-z0-9]+(?:[.\-_'’+&][a-z0-9]+)*")
CJK_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))
"""The characters of a Chinese run (inclusive ranges): what is cut into words and paired into bigrams."""
_CJK_RUN = re.compile("[" + "".join(f"{chr(low)}-{chr(high)}" for low, high in CJK_RANGES) + "]+")
_LATIN_WORD = re.compile(r"[a-z0-9]+(?:[.\-_'’+&][a-z0-9]+|(?<=\d),\d{3}(?!\d)[a-z0-9]*)*")
_SCAN = re.compile(f"{_LATIN.pattern}|{_CJK_RUN.pattern}")
_PARTS = re.compile(r"[a-z0-9]+")
_RUNS = re.compile(r"[a-z]+|[0-9]+")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_NUMBER_UNIT = re.compile(r"(\d+(?:\.\d+)?)(bn|mn|tn|pct)")
_UNITS = {"bn": "billion", "mn": "million", "tn": "trillion", "pct": "percent"}
_SURROGATE = re.compile("[\ud800-\udfff]")
_STEMMERS = threading.local()

CHINESE_STOPWORDS = frozenset("""
的 地 得 了 着 过 是 在 和 与 及 或 而 且 并 也 都 就 还 又 才 把 被 让 给 对 向 从 自 于 以 为 由 之 其 此 这 那
个 些 本 该 每 各 等 等等 我 你 他 她 它 我们 你们 他们 她们 它们 咱们 自己 吗 呢 吧 啊 呀 嘛 哦 哈 啦 么 嗯
什么 甚么 啥 哪 哪里 哪儿 哪个 哪些 哪一 哪一个 哪一年 哪年 哪天 哪位 哪种 哪家 哪国 几 几个 几年 多少 多大 多久
多长 多高 多远 谁 为什么 为何 怎么 怎样 怎么样 如何 何时 何地 何处 何人 何种 是否 是不是 有没有 请问 请 一下 知道
告诉 什么样 什么样的 啥时候 什么时候 多少钱 属于 称为 叫做 叫 被称为 指 的话 一个 一种 这个 那个 这些 那些 以及
所以 因为 但是 但 如果 虽然 然而 而且 并且 或者 还是 就是 只是 可以 能 会 要 将 已 已经 曾 曾经 所 有关 关于 呢
到底 究竟 一共 总共 大概 大约 大致 来着 咋 咯 呗 为啥 干啥 听说 据说 哪只 哪条 哪次 几时 几点 几号 几钱 几多
咗 嘅 啲 嗰 咁 喺 系 系咪 系唔系 咪 乜 乜嘢 点解 边个 边度 边只 边间 边位 嘢 冇 唔
""".split())
"""Also colloquial filler (到底, 一共, 大概, 来着) and Cantonese function words (嘅, 咗, 係 → 系, 幾多 → 几多):
a reader's way of asking, which no answer shares."""

ENGLISH_STOPWORDS = frozenset("""
a an the and or but if then else of to in on at by for with from as into onto about over under
is are was were be been being am do does did done has have had having will would shall should can could
may might must it its it's this that these those there here i me my we our you your he him his she her they
them their what which who whom whose when where why how whether not no nor so than too very just also
s t don't does doesn't did didn't isn't aren't wasn't weren't tell please know
much many actually really exactly basically roughly approximately
""".split())

STOPWORDS = CHINESE_STOPWORDS | ENGLISH_STOPWORDS
_NOT_WORDS = STOPWORDS | {"\n"}
"""What a segmenter's output holds that is no token: stop-words, and the line breaks between runs."""
_LATIN_CACHE = 200_000
"""Distinct Latin words whose tokens a tokenizer remembers (numbers and names recur across a corpus)."""


class Segmenter(Protocol):
    """jieba's segmentation (its dictionary, HMM off) of text, whitespace kept as words of its own."""

    name: str

    def cut(self, text: str) -> list[str]:
        """The words of ``text``; each Chinese run is cut on its own, every other character is a word."""
        ...

    def add_word(self, word: str, freq: int) -> None:
        """Teach this segmenter (and no other) a word absent from the dictionary, with its frequency."""
        ...


class JiebaSegmenter:
    """jieba itself: the reference, and the segmenter wherever rjieba is not installed."""

    name = "jieba"

    def __init__(self) -> None:
        segmenter = _jieba_module().Tokenizer()
        _load_dictionary(segmenter)
        self.jieba = segmenter

    def cut(self, text: str) -> list[str]:
        return self.jieba.lcut(text, HMM=False)

    def add_word(self, word: str, freq: int) -> None:
        self.jieba.add_word(word, freq)


class RjiebaSegmenter:
    """jieba-rs through rjieba: jieba's dictionary and its DAG search in Rust, about 9× faster.

    Only what gives jieba's words exactly is used: ``cut`` with HMM off, and new words with an
    explicit frequency. Where two cuts of a stretch score exactly alike, jieba takes the longer
    first word and jieba-rs the shorter: 一一一 is 一一/一 for jieba, 一/一一 for jieba-rs. Such a
    tie needs the same words in two orders, which only a stretch repeated three times in a row
    can offer (一一一, 哈哈哈, 一点一点一点); text holding one is cut by jieba itself (a few
    paragraphs in ten thousand). Re-weighing a word the dictionary has is refused: jieba adds
    the new frequency to its total, jieba-rs replaces the old one, so the two would cut differently.
    """

    name = "rjieba"

    def __init__(self) -> None:
        import rjieba  # its import builds rjieba's own default instance (~0.1 s): only when used

        # Cut with that instance, which nothing here ever changes: a second one would cost every
        # process start (an `ask`, each build worker) another 0.1 s. A word added makes one of our own.
        self.jieba: Any = rjieba
        self._added: list[tuple[str, int]] = []

    def cut(self, text: str) -> list[str]:
        if not _TRIPLED.search(text):
            return self.jieba.cut(text, False)
        if "\r" in text:
            return self._reference.cut(text)
        # A line break ends every word for both, so only the lines holding such a stretch go to
        # jieba (a file's runs come joined by line breaks: one 哈哈哈 must not send it all).
        words: list[str] = []
        for number, (tripled, lines) in enumerate(groupby(text.split("\n"), key=_holds_tripled)):
            if number:
                words.append("\n")
            stretch = "\n".join(lines)
            words.extend(self._reference.cut(stretch) if tripled else self.jieba.cut(stretch, False))
        return words

    @cached_property
    def _reference(self) -> JiebaSegmenter:
        """jieba, with the words added here, for the text whose ties jieba-rs would break the other way."""
        reference = JiebaSegmenter()
        for word, freq in self._added:
            reference.add_word(word, freq)
        return reference

    def add_word(self, word: str, freq: int) -> None:
        if self.jieba.has_word(word):
            raise ValueError(f"{word!r} is in the dictionary already: jieba and rjieba would re-weigh it "
                             "differently (use the jieba segmenter for that)")
        if not self._added:
            from rjieba import Jieba

            self.jieba = Jieba()
        self.jieba.add_word(word, freq, None)
        self._added.append((word, freq))
        if "_reference" in self.__dict__:
            self._reference.add_word(word, freq)


_TRIPLED = re.compile(r"(.{1,8}?)\1\1")
"""A stretch of up to eight characters three times in a row: where jieba and jieba-rs may break ties apart."""


def _holds_tripled(line: str) -> bool:
    return _TRIPLED.search(line) is not None


SEGMENTERS: dict[str, type[JiebaSegmenter] | type[RjiebaSegmenter]] = {
    "rjieba": RjiebaSegmenter, "jieba": JiebaSegmenter}


def default_segmenter() -> str:
    """rjieba where it is installed (same words, ~9× faster), else jieba."""
    return "rjieba" if find_spec("rjieba") is not None else "jieba"


def _jieba_module() -> Any:
    """jieba, imported only when it segments (it costs ~0.1 s, and rjieba usually does the work)."""
    with warnings.catch_warnings():
        # jieba imports pkg_resources, which setuptools ≥ 81 deprecates with a warning on stderr:
        # noise in every command's output (and in `ask --json`'s stderr) that says nothing about articlebot.
        warnings.simplefilter("ignore", UserWarning)
        import jieba
    logging.getLogger("jieba").setLevel(logging.WARNING)
    jieba.setLogLevel(logging.WARNING)
    return jieba


class Tokenizer:
    """Turns any text into index tokens; build one per process and reuse it (the segmenter loads lazily).

    ``segmenter`` names who cuts Chinese into words ("rjieba" or "jieba"; by default rjieba where
    installed). Both give the same tokens, so it is not part of the cache key.
    """

    version = TOKENIZER_VERSION

    def __init__(self, bigrams: bool = True, segmenter: str | None = None) -> None:
        self.bigrams = bigrams
        self.segmenter_name = segmenter or default_segmenter()
        if self.segmenter_name not in SEGMENTERS:
            raise ValueError(f"unknown segmenter {segmenter!r}: one of {', '.join(SEGMENTERS)}")

    @property
    def cache_key(self) -> str:
        """Changes whenever the tokens this tokenizer produces would change (not with the segmenter:
        rjieba and jieba cut alike, which the tests hold them to)."""
        return f"{self.version}:{int(self.bigrams)}"

    @cached_property
    def segmenter(self) -> Segmenter:
        """This tokenizer's own segmenter: words added to it reach no other tokenizer."""
        return SEGMENTERS[self.segmenter_name]()

    def warm(self) -> None:
        """Load the segmenter's dictionary and OpenCC now (0.1–0.3 s), e.g. in a thread while other work waits."""
        self.segmenter  # noqa: B018 - loading is the point
        self._to_simplified  # noqa: B018

    @cached_property
    def _to_simplified(self) -> opencc.OpenCC:
        return opencc.OpenCC("t2s")

    def normalize(self, text: str) -> str:
        """NFKC, lower case, Simplified script: the form every token is taken from.

        Lone surrogates (what undecodable bytes in argv become) turn into U+FFFD first:
        OpenCC cannot encode them.
        """
        text = unicodedata.normalize("NFKC", _SURROGATE.sub("\ufffd", text)).lower()
        return self._to_simplified.convert(text)

    def __getstate__(self) -> dict[str, object]:
        """Send only the settings to worker processes; each loads its own segmenter."""
        return {"bigrams": self.bigrams, "segmenter": self.segmenter_name}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.bigrams = bool(state["bigrams"])
        self.segmenter_name = str(state["segmenter"])

    def __call__(self, text: str) -> list[str]:
        return list(self.iter_tokens(text))

    def iter_tokens(self, text: str) -> Iterator[str]:
        return self.normalized_tokens(self.normalize(text))

    def normalized_tokens(self, normalized: str, bigrams: bool | None = None) -> Iterator[str]:
        """The tokens of text already in ``normalize``'s form (so it is normalised once for several uses);
        ``bigrams=False`` leaves out the character bigrams (the index builder makes those with numpy).

        Thousands separators go first: 3,870.08 is the number 3870.08, as a reader may type it.
        The Chinese runs are cut in one call of the segmenter (each run is still cut on its own).
        """
        bigrams = self.bigrams if bigrams is None else bigrams
        if "," in normalized:
            normalized = _THOUSANDS.sub("", normalized)
        pieces = _SCAN.findall(normalized)
        words = iter(self._cut_runs([piece for piece in pieces if piece[0] >= "\u3400"]))
        for piece in pieces:
            if piece[0] < "\u3400":
                yield from self._latin(piece)
            else:
                yield from next(words)
                if bigrams:
                    yield from _bigrams(piece)
        yield from scaled_numbers(normalized)

    def word_tokens(self, normalized: str) -> list[str]:
        """``normalized_tokens(normalized, bigrams=False)`` in another order (Latin words, then Chinese
        words, then values): what the index builder needs, whose bags of tokens ignore order, without a
        generator step per token. Each distinct Latin word is worked out once per process."""
        if "," in normalized:
            normalized = _THOUSANDS.sub("", normalized)
        tokens: list[str] = []
        latin = self._latin_cache
        for word in _LATIN.findall(normalized):
            found = latin.get(word)
            if found is None:
                found = tuple(self._latin(word))
                if len(latin) < _LATIN_CACHE:
                    latin[word] = found
            tokens.extend(found)
        runs = _CJK_RUN.findall(normalized)
        if runs:
            tokens.extend([word for word in self.segmenter.cut("\n".join(runs)) if word not in _NOT_WORDS])
        tokens.extend(scaled_numbers(normalized))
        return tokens

    @cached_property
    def _latin_cache(self) -> dict[str, tuple[str, ...]]:
        return {}

    def _cut_runs(self, runs: Sequence[str]) -> Iterator[list[str]]:
        """Each Chinese run's words without stop-words, from one call of the segmenter: the runs are
        joined by line breaks, which end a run for jieba (and rjieba) as the run's own end does."""
        if not runs:
            return
        words: list[str] = []
        for word in self.segmenter.cut("\n".join(runs)):
            if word == "\n":
                yield words
                words = []
            elif word not in STOPWORDS:
                words.append(word)
        yield words

    def latin_tokens(self, normalized: str) -> set[str]:
        """The Latin tokens of already-normalised text: what a Latin question token can match in it."""
        found: set[str] = set()
        for _, _, tokens in self.latin_words(normalized):
            found.update(tokens)
        found.update(scaled_numbers(_THOUSANDS.sub("", normalized) if "," in normalized else normalized))
        return found

    def words(self, text: str) -> list[str]:
        """The tokens without the character bigrams: what the text says in words. A bigram that spans
        two words of a question (票多 in 门票多少钱) is only an artefact when no article holds it."""
        tokens: list[str] = []
        for match in _SCAN.finditer(self.normalize(text)):
            piece = match.group()
            tokens.extend(self._latin(piece) if piece[0] < "\u3400" else self._chinese(piece, False))
        return tokens

    def segments(self, run: str) -> list[str]:
        """jieba's words of one normalised Chinese run, stop-words included: the run, cut."""
        return self.segmenter.cut(run)

    def seams(self, text: str) -> set[str]:
        """The bigrams of a question that only straddle a seam between its words: two words of two
        characters or more (们到 in 他们到底), or a word and a stop-word (钱要 in 多少钱要买). They are
        artefacts of how the question is phrased, not of a name jieba does not know (a name it splits
        into single characters keeps its bigrams), and a paragraph holding one matches nothing asked."""
        inside: set[str] = set()
        seams: set[str] = set()
        for match in _CJK_RUN.finditer(self.normalize(text)):
            words = self.segmenter.cut(match.group())
            for word in words:
                inside.update(word[i:i + 2] for i in range(len(word) - 1))
            for left, right in zip(words, words[1:]):
                if (len(left) > 1 and len(right) > 1) or left in STOPWORDS or right in STOPWORDS:
                    seams.add(left[-1] + right[0])
        return seams - inside

    def latin_words(self, normalized: str) -> Iterator[tuple[int, int, list[str]]]:
        """Each Latin word of normalised text with its span and its own tokens: what highlighting compares
        a question's tokens with, since a stem ("earn" of "earnings") is not a substring to search for."""
        for match in _LATIN_WORD.finditer(normalized):
            yield match.start(), match.end(), list(self._latin(_THOUSANDS.sub("", match.group())))

    def _latin(self, word: str) -> Iterator[str]:
        if word.endswith(("'s", "’s")):
            word = word[:-2]
        scaled = _NUMBER_UNIT.fullmatch(word)
        if scaled:  # 14bn is 14 billion, as "$14 billion" and "14 billion dollars" say it
            yield scaled.group(1)
            yield _UNITS[scaled.group(2)]
            return
        if word not in STOPWORDS:
            yield self._stem(word)
        if any(sep in word for sep in "-_'’+&"):
            for part in _PARTS.findall(word):
                if part not in STOPWORDS and part != word:
                    yield self._stem(part)
        elif not (word.isalpha() or word.isdigit()) and word.isalnum():
            # rmpb2015 is also rmpb and 2015, python3 also python: a name with a model number or year glued on.
            for run in _RUNS.findall(word):
                if (len(run) >= 4 if run[0].isdigit() else len(run) >= 3) and run not in STOPWORDS:
                    yield self._stem(run)

    def _stem(self, word: str) -> str:
        """English words by their stem (Snowball): earned, earnings and earning meet as "earn".

        A stemmer is not thread-safe, so each thread has its own (handlers run in worker threads).
        """
        if len(word) <= 3 or not word.isalpha():
            return word
        stemmer = getattr(_STEMMERS, "english", None)
        if stemmer is None:
            stemmer = _STEMMERS.english = Stemmer.Stemmer("english")
        return str(stemmer.stemWord(word))

    def _chinese(self, run: str, bigrams: bool) -> Iterator[str]:
        for word in self.segmenter.cut(run):
            if word not in STOPWORDS:
                yield word
        if bigrams:
            yield from _bigrams(run)


def _bigrams(run: str) -> Iterator[str]:
    """The run's character pairs, but for those holding a stop character or that are a stop-word."""
    for i in range(len(run) - 1):
        pair = run[i:i + 2]
        if pair[0] not in STOP_CHARACTERS and pair[1] not in STOP_CHARACTERS and pair not in STOPWORDS:
            yield pair


_SCALED = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*(万亿|百万|千万|亿|万|trillion|billion|million|thousand|bn|mn|tn)(?![a-z])")
_SCALES = {"万": 1e4, "百万": 1e6, "千万": 1e7, "亿": 1e8, "万亿": 1e12, "thousand": 1e3, "million": 1e6, "mn": 1e6,
           "billion": 1e9, "bn": 1e9, "trillion": 1e12, "tn": 1e12}


def scaled_numbers(normalized: str) -> Iterator[str]:
    """A number with its scale, as one token of its value: 974亿, 97.4 billion and 97.4bn are all
    "=9.74e+10", so a question in one language's units finds an article in the other's."""
    for match in _SCALED.finditer(normalized):
        yield f"={float(match.group(1)) * _SCALES[match.group(2)]:.4g}"


def dictionary_cache_path() -> str:
    version = _jieba_module().__version__
    return os.path.join(tempfile.gettempdir(), f"articlebot-jieba-{version}-{os.getuid()}.pickle")


def _load_dictionary(segmenter: jieba.Tokenizer) -> None:
    """jieba's prefix dictionary, from a pickle of it: 0.2 s instead of jieba's own 0.8 s.

    jieba caches the dictionary with ``marshal.load`` from a file object, which reads it in
    small pieces; every `articlebot ask` pays for it before answering. The pickle holds the
    same ``(FREQ, total)`` jieba builds, next to jieba's own cache (the temp folder), and is
    rebuilt from jieba whenever it is missing or unreadable.
    """
    path = dictionary_cache_path()
    try:
        with open(path, "rb") as handle:
            freq, total = pickle.load(handle)
        if isinstance(freq, dict) and isinstance(total, int) and freq:
            segmenter.FREQ, segmenter.total, segmenter.initialized = freq, total, True
            return
    except Exception:  # noqa: BLE001 - a missing or broken copy is simply made again
        pass
    segmenter.initialize()
    try:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path))
        with os.fdopen(fd, "wb") as handle:
            pickle.dump((segmenter.FREQ, segmenter.total), handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:
        pass


STOP_CHARACTERS = frozenset("的了是在和与及或也都就还又把被让给对向从于以为之其这那个些我你他她它吗呢吧啊么几谁哪")
