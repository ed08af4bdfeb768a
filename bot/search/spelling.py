"""Question tokens the collection lacks → the collection's tokens the reader most likely meant.

A reader who types 鲍威耳 for 鲍威尔, or "nvidai" for "nvidia", matches half a name or nothing:
威耳 and "nvidai" are in no paragraph. ``Speller.correct`` names the token meant, by these rules:

- Chinese tokens of 2–4 characters: a collection token of the same length that differs in exactly
  one character, the two characters sharing a toneless reading (pypinyin, ``Style.NORMAL``, every
  heteronym reading of both that is in use, see ``Readings``: 常城 finds 长城 through 长's second
  reading, chang, but 约莫 does not find 块莫 through 块's archaic yué). A homophone is the typo a
  pinyin input method makes: the reader picks the wrong character of the right sound.
- No Chinese correction across sounds, however common the candidate: a token one character off
  in meaning (南京大学 for 北京大学, 上海人 for 上海市) is usually another real thing the collection
  does not cover, and answering about the wrong one is worse than answering about neither. A
  character of similar shape (形近字) would need a glyph table we do not have.
- Latin tokens of 5 letters or more (a–z only): a collection token at Damerau–Levenshtein
  distance 1 (one letter inserted, deleted or replaced, or two neighbours swapped: nvidai →
  nvidia, deepseak → deepseek). Shorter words have too many real neighbours (gpt/gpu, meta/beta).
- A token with a digit in it is never corrected: h200 is no typo of h100, nor 2024 of 2025.
- Only a token the collection lacks (frequency 0) is corrected, or one far rarer than its
  candidate (frequency ≤ ``RARE`` and the candidate's ≥ ``DOMINANCE`` × (frequency + 1)): a real
  but rare word, or a name spelled two ways that both occur, is left alone.
- Among candidates the one in most paragraphs wins, ties going to the lexicographically first:
  the answer never depends on the order of the vocabulary, of a set or of a hash.
- A correction is a token at least ``MIN_TARGET`` (2) paragraphs hold: a token found once is as
  often an artefact (a bigram spanning two words) or a typo of the collection's own as a name.

What it cannot know: whether a bigram the collection lacks is a misspelt name (姜平 for 姜萍) or just
spans two words of the question (克用 in 卡兹克用…, "corrected" to 可用). Both are absent and both
have common homophones: on the 400 reader questions, taking every token, 261 of the 266 corrections
were of bigrams, nearly all of the second kind. A caller should weigh a corrected bigram by its
context (does a paragraph hold it with its neighbours?) or correct only what jieba reads as a word.

The lookup tables are built on first use, one per script, since most questions never need them.
On the news and WeChat evaluation articles (81k paragraphs, 377k terms; 137k Chinese tokens of
2–4 characters and 12k Latin ones in 2 paragraphs or more) the Chinese one takes ~0.3 s (plus
~0.2–0.4 s to import pypinyin) and ~11 MB, the Latin one ~0.1 s and 0.5 MB; a lookup takes
5–100 µs (measured on a 2-core machine, loaded).

- Chinese: every Chinese token by its text, and every character the collection uses by each of
  its readings. A lookup swaps each character of the token for each homophone the collection
  uses and looks the result up: at most a few hundred dictionary probes.
- Latin: SymSpell's deletion neighbourhood. Every Latin token is filed under itself and under
  each one-letter deletion of it; two words one edit apart always share such a key. The table
  is a sorted array of 64-bit words packing the key's hash with the term id (8 bytes a key,
  where a dict of strings takes ~100), read with a bisect; a hash collision only adds a
  candidate that the exact distance check rejects.
"""

from __future__ import annotations

import re
import threading
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Generic, Protocol, SupportsInt, TypeVar

MIN_TARGET = 2
"""A correction is a token at least this many paragraphs hold: on the 400 reader questions of
``benchmarks/questions/*-reader-own.jsonl``, 57 of the 58 corrections to a token found in a single
paragraph were wrong (a bigram spanning two words of the question, 票多 for 嫖多; a stray spelling,
welsh → welch) and the 58th (王锐 → 王睿) is doubtful."""
RARE = 2
"""A token found in at most this many paragraphs may still be a misspelling of a common one."""
DOMINANCE = 20
"""How much more common (× the token's frequency + 1) a candidate must be to replace a token that occurs."""

_CHINESE = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]{2,4}")
"""A Chinese token that may be corrected: the tokenizer's Chinese ranges, 2–4 characters."""
_LATIN = re.compile(r"[a-z]{5,}")
"""A Latin token that may be corrected."""
_LATIN_TARGET = re.compile(r"[a-z]{4,}")
"""A Latin token that may be a correction: a 5-letter word with a letter too many means a 4-letter one."""

T = TypeVar("T")


class Frequencies(Protocol):
    """Document frequencies by term id: a list of ints, or the index's ``np.diff(offsets)``."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int, /) -> SupportsInt: ...


class _Once(Generic[T]):
    """A value made on first use, exactly once even when several threads ask for it together."""

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._value: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        value = self._value
        if value is None:
            with self._lock:
                value = self._value
                if value is None:
                    value = self._value = self._make()
        return value


class Readings:
    """A character's toneless pinyin readings in use: pypinyin's first (its most common) and every
    other one that pypinyin's phrase dictionary gives the character in some word.

    pypinyin's heteronym lists also hold readings hardly anyone types (块 yué, 方 fēng, 潭 xún, 机
    wēi): with them 约莫 became 块莫 and 文峰 had 文方 for a homophone. The phrase dictionary keeps
    the heteronyms readers do use: 长 zhǎng and cháng, 重 zhòng and chóng, 行 xíng and háng.
    pypinyin loads its dictionaries on import (~0.15–0.3 s), so it is imported only here, when a
    Chinese token first needs correcting.
    """

    def __init__(self) -> None:
        from pypinyin.contrib.tone_convert import to_normal
        from pypinyin.phrases_dict import phrases_dict

        toned = {(character, reading) for phrase, readings in phrases_dict.items()
                 for character, choices in zip(phrase, readings) for reading in choices}
        in_use: dict[str, set[str]] = {}
        for character, reading in toned:
            in_use.setdefault(character, set()).add(to_normal(reading))
        self._in_use = in_use

    def __call__(self, character: str) -> frozenset[str]:
        """The readings, empty for a character pypinyin cannot read."""
        from pypinyin import Style, pinyin

        found = pinyin(character, style=Style.NORMAL, heteronym=True, errors="ignore")
        every = [reading for reading in (found[0] if found else ()) if reading and reading != character]
        used = self._in_use.get(character, set())
        return frozenset(reading for i, reading in enumerate(every) if i == 0 or reading in used)


def one_edit_apart(a: str, b: str) -> bool:
    """Whether b is at Damerau–Levenshtein distance exactly 1 from a (a swap of neighbours is one edit)."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) < len(b):
        return a[i:] == b[i + 1:]
    return a[i + 1:] == b[i + 1:] or (
        i + 1 < len(a) and a[i] == b[i + 1] and a[i + 1] == b[i] and a[i + 2:] == b[i + 2:])


def _deletion(word: str, i: int) -> str:
    """The word less its letter i, or the word itself for i = len(word): SymSpell's distance-1 keys."""
    return word[:i] + word[i + 1:]


def _deletions(word: str) -> list[str]:
    return [_deletion(word, i) for i in range(len(word) + 1)]


class _Homophones:
    """The collection's Chinese tokens by text, and its characters by reading."""

    def __init__(self, terms: Sequence[str], frequencies: Frequencies) -> None:
        self.ids = {term: term_id for term_id, term in enumerate(terms)
                    if _CHINESE.fullmatch(term) and int(frequencies[term_id]) >= MIN_TARGET}
        self.readings = Readings()
        self.sounds = {character: self.readings(character) for character in {c for term in self.ids for c in term}}
        characters: dict[str, list[str]] = {}
        for character, sounds in self.sounds.items():
            for sound in sounds:
                characters.setdefault(sound, []).append(character)
        self.characters = characters

    def of(self, token: str) -> Iterator[int]:
        """Ids of the tokens that differ from this one in one character of the same sound."""
        for position, typed in enumerate(token):
            sounds = self.sounds.get(typed)
            if sounds is None:  # a character no collection token has; it is read afresh each time
                sounds = self.readings(typed)
            for sound in sounds:
                for meant in self.characters.get(sound, ()):
                    if meant != typed:
                        found = self.ids.get(token[:position] + meant + token[position + 1:])
                        if found is not None:
                            yield found


class _Neighbourhoods:
    """Latin token ids by SymSpell key, as a sorted array of (key hash << id bits | term id)."""

    def __init__(self, terms: Sequence[str], frequencies: Frequencies) -> None:
        self._bits = bits = max(1, (len(terms) - 1).bit_length())
        self._hash_mask = mask = (1 << (64 - bits)) - 1
        self._id_mask = (1 << bits) - 1
        # One comprehension, no list per term: a list per term doubled the build time (more garbage collections).
        packed = [((hash(_deletion(term, i)) & mask) << bits) | term_id
                  for term_id, term in enumerate(terms)
                  if _LATIN_TARGET.fullmatch(term) and int(frequencies[term_id]) >= MIN_TARGET
                  for i in range(len(term) + 1)]
        packed.sort()
        self._packed = array("Q", packed)

    def __len__(self) -> int:
        return len(self._packed)

    @property
    def nbytes(self) -> int:
        return self._packed.itemsize * len(self._packed)

    def ids(self, key: str) -> Iterator[int]:
        """The ids of the terms filed under ``key`` (and, rarely, of a key whose hash collides)."""
        hashed = hash(key) & self._hash_mask
        packed, bits = self._packed, self._bits
        at = bisect_left(packed, hashed << bits)
        while at < len(packed) and packed[at] >> bits == hashed:
            yield packed[at] & self._id_mask
            at += 1


class Speller:
    """Finds, for a question token the collection lacks, the collection's tokens that sound the same
    or are one edit away.

    A snapshot of the vocabulary it is given (``BM25Index.terms`` and ``np.diff(index.offsets)``):
    make a new one with each new index. Making one costs nothing; each script's table is built by
    the first ``correct`` that needs it, or by ``warm``.
    """

    def __init__(self, terms: Sequence[str], frequencies: Frequencies) -> None:
        if len(terms) != len(frequencies):
            raise ValueError(f"{len(terms)} terms but {len(frequencies)} frequencies: they pair up by term id")
        self._terms = terms
        self._frequencies = frequencies
        self._homophones = _Once(lambda: _Homophones(terms, frequencies))
        self._neighbourhoods = _Once(lambda: _Neighbourhoods(terms, frequencies))

    def correct(self, token: str, frequency: int = 0) -> str | None:
        """The collection's token this one most likely misspells, or None. frequency is the token's own
        document frequency in the collection (0 = absent)."""
        if frequency > RARE:
            return None
        if _CHINESE.fullmatch(token):
            candidates = self._homophones.get().of(token)
        elif _LATIN.fullmatch(token):
            candidates = self._one_edit(token)
        else:
            return None
        return self._best(candidates, frequency)

    def homophones(self, token: str) -> list[tuple[str, int]]:
        """Every collection token (in ``MIN_TARGET`` paragraphs or more) one same-sound character away from
        a Chinese token, with its frequency, whatever the token's own: for a caller that judges by context
        (does a paragraph hold the corrected word with its neighbours?) rather than by frequency alone."""
        if not _CHINESE.fullmatch(token):
            return []
        found = dict.fromkeys(self._homophones.get().of(token))
        return [(self._terms[i], int(self._frequencies[i])) for i in found]

    def warm(self) -> None:
        """Build both tables now (in a background thread, say), so that no question waits for them."""
        self._homophones.get()
        self._neighbourhoods.get()

    def _one_edit(self, token: str) -> Iterator[int]:
        """Ids of the Latin tokens one edit away: any two such words share a deletion key."""
        table = self._neighbourhoods.get()
        for key in _deletions(token):
            for term_id in table.ids(key):
                if one_edit_apart(token, self._terms[term_id]):
                    yield term_id

    def _best(self, candidates: Iterable[int], frequency: int) -> str | None:
        """The most frequent candidate common enough to replace the token; ties by spelling."""
        floor = max(MIN_TARGET, DOMINANCE * (frequency + 1) if frequency > 0 else 0)
        best: tuple[int, str] | None = None
        for term_id in candidates:
            rank = (-int(self._frequencies[term_id]), self._terms[term_id])
            if -rank[0] >= floor and (best is None or rank < best):
                best = rank
        return None if best is None else best[1]
