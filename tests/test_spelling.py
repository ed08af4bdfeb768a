"""spelling.py: a question token the collection lacks → the token the reader meant, or nothing."""

from __future__ import annotations

import threading
from collections.abc import Mapping

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.search.index import BM25Index
from bot.search.spelling import DOMINANCE, MIN_TARGET, Speller, one_edit_apart
from bot.search.tokens import Tokenizer

VOCABULARY = {
    "文锋": 80, "梁文": 90, "文章": 500, "鲍威尔": 300, "威尔": 350, "长城": 40, "北京大学": 1000,
    "nvidia": 140, "deepseek": 2800, "openai": 900, "model": 3000, "2024": 700, "h100": 60, "12345": 30,
}


def speller(vocabulary: Mapping[str, int] = VOCABULARY) -> Speller:
    return Speller(list(vocabulary), list(vocabulary.values()))


@pytest.mark.parametrize(("typed", "meant"), [
    ("文峰", "文锋"),  # 梁文锋 typed 梁文峰: the bigram 文峰 is in no paragraph
    ("鲍威耳", "鲍威尔"),  # er / er
    ("威耳", "威尔"),
    ("常城", "长城"),  # 长 reads zhang first; chang is its other reading
])
def test_a_homophone_is_corrected(typed: str, meant: str) -> None:
    assert speller().correct(typed) == meant


def test_a_character_of_another_sound_is_not_a_typo() -> None:
    # 南 (nan) is not 北 (bei): 南京大学 is another university, not a misspelling of one the collection has.
    assert speller().correct("南京大学") is None


def test_a_reading_no_one_types_makes_no_homophone() -> None:
    # pypinyin lists yué among 块's readings (and yuē is 约's), but only kuài is in use.
    assert speller({"块莫": 50}).correct("约莫") is None


def test_chinese_tokens_of_one_or_five_characters_are_left_alone() -> None:
    vocabulary = {"锋": 100, "人民共和国": 100, "民共和国": 100}
    assert speller(vocabulary).correct("峰") is None
    assert speller(vocabulary).correct("人民共合国") is None  # he / he, but five characters
    assert speller(vocabulary).correct("民共合国") == "民共和国"


@pytest.mark.parametrize(("typed", "edit"), [
    ("nvidai", "transposition"),
    ("deepseak", "substitution"),
    ("deepsek", "deletion"),
    ("deepseeek", "insertion"),
    ("opnai", "deletion"),
])
def test_a_latin_word_one_edit_away_is_corrected(typed: str, edit: str) -> None:
    meant = {"nvidai": "nvidia", "opnai": "openai"}.get(typed, "deepseek")
    assert speller().correct(typed) == meant, edit


@pytest.mark.parametrize("typed", ["deapseak", "nivdai", "mdl"])
def test_two_edits_away_or_too_short_is_not_corrected(typed: str) -> None:
    assert speller().correct(typed) is None


def test_a_four_letter_word_is_not_corrected_but_may_be_the_correction() -> None:
    vocabulary = {"bert": 100, "claude": 100}
    assert speller(vocabulary).correct("berd") is None
    assert speller(vocabulary).correct("berts") == "bert"


@pytest.mark.parametrize("typed", ["2025", "h200", "12346", "557.6", "gpt4o"])
def test_numbers_are_never_corrected(typed: str) -> None:
    vocabulary = {**VOCABULARY, "gpt4": 500, "557.5": 500}
    assert speller(vocabulary).correct(typed) is None


def test_a_rare_but_real_word_is_left_alone() -> None:
    rare = 1
    vocabulary = {"deepseek": DOMINANCE * (rare + 1) - 1, "deepseak": rare}
    assert speller(vocabulary).correct("deepseak", rare) is None


def test_a_rare_word_is_corrected_when_its_neighbour_is_far_more_common() -> None:
    rare = 2
    vocabulary = {"deepseek": DOMINANCE * (rare + 1), "deepseak": rare}
    assert speller(vocabulary).correct("deepseak", rare) == "deepseek"


def test_a_word_the_collection_uses_is_left_alone() -> None:
    vocabulary = {"deepseek": 100_000, "deepseak": 3, "文锋": 100_000, "文峰": 3}
    assert speller(vocabulary).correct("deepseak", 3) is None
    assert speller(vocabulary).correct("文峰", 3) is None


def test_a_token_found_in_one_paragraph_is_no_correction() -> None:
    vocabulary = {"deepseek": MIN_TARGET - 1, "文锋": MIN_TARGET - 1, "nvidia": 0}
    assert speller(vocabulary).correct("deepseak") is None
    assert speller(vocabulary).correct("文峰") is None
    assert speller(vocabulary).correct("nvidai") is None


def test_no_candidate_gives_none() -> None:
    assert speller().correct("zzzzzz") is None
    assert speller().correct("鑫鑫") is None
    assert speller().correct("") is None
    assert speller().correct("deepseek-v3") is None
    assert Speller([], []).correct("deepseak") is None


def test_the_most_common_candidate_wins() -> None:
    vocabulary = {"modal": 40, "model": 3000, "motel": 5}
    assert speller(vocabulary).correct("modol") == "model"


def test_ties_go_to_the_first_spelling_whatever_the_vocabulary_order() -> None:
    forward = speller({"modem": 50, "model": 50, "modes": 50})
    backward = speller({"modes": 50, "model": 50, "modem": 50})
    assert forward.correct("modez") == backward.correct("modez") == "model"
    assert speller({"文锋": 50, "文风": 50}).correct("文峰") == speller({"文风": 50, "文锋": 50}).correct("文峰") == "文锋"
    assert speller({"colour": 50, "color": 50}).correct("colorr") == "color"  # a deletion, a substitution


def test_the_index_frequencies_serve_as_they_are() -> None:
    """The index's ``np.diff(offsets)`` (numpy integers), as well as a list of ints."""
    tokenizer = Tokenizer()
    paragraphs = [tokenizer(text) for text in ["美联储主席鲍威尔表示", "鲍威尔称利率将维持不变", "NVIDIA shares rose"] * 3]
    index = BM25Index.build(paragraphs)
    spelling = Speller(index.terms, np.diff(index.offsets))
    question = tokenizer("鲍威耳说了什么 nvidai")
    corrections = {token: spelling.correct(token) for token in question if token not in index.terms}
    assert corrections["威耳"] == "威尔"
    assert corrections["nvidai"] == "nvidia"


def test_terms_and_frequencies_must_pair_up() -> None:
    with pytest.raises(ValueError, match="2 terms but 1 frequencies"):
        Speller(["a", "b"], [1])


def test_threads_using_a_new_speller_at_once_get_the_same_answers() -> None:
    questions = ["文峰", "鲍威耳", "nvidai", "deepseak", "南京大学", "2025"] * 3
    expected = [speller().correct(question) for question in questions]
    shared = speller()
    start = threading.Barrier(8)
    answers: list[list[str | None]] = []

    def ask() -> None:
        start.wait()
        answers.append([shared.correct(question) for question in questions])

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [expected] * 8
    assert expected[:6] == ["文锋", "鲍威尔", "nvidia", "deepseek", None, None]


def osa_distance(a: str, b: str) -> int:
    """Damerau–Levenshtein (optimal string alignment) distance, by the textbook table: the oracle."""
    table = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                table[i][j] = min(table[i][j], table[i - 2][j - 2] + 1)
    return table[len(a)][len(b)]


words = st.text(alphabet="abcd", max_size=8)


@given(words, words)
def test_one_edit_apart_agrees_with_the_distance_table(a: str, b: str) -> None:
    assert one_edit_apart(a, b) == (osa_distance(a, b) == 1)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(alphabet="abcde", min_size=4, max_size=7), st.integers(0, 60), max_size=40),
       st.text(alphabet="abcde", min_size=5, max_size=7))
def test_a_latin_correction_is_the_best_word_one_edit_away(vocabulary: dict[str, int], typed: str) -> None:
    """Against a scan of the whole vocabulary: the deletion index finds every word one edit away."""
    frequency = vocabulary.get(typed, 0)
    floor = max(MIN_TARGET, DOMINANCE * (frequency + 1) if frequency else 0)
    candidates = sorted((-count, word) for word, count in vocabulary.items()
                        if count >= floor and osa_distance(typed, word) == 1)
    expected = candidates[0][1] if candidates and frequency <= 2 else None
    assert speller(vocabulary).correct(typed, frequency) == expected
