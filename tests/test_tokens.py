"""tokens.py: text → tokens, the same for articles and questions."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.search.tokens import STOPWORDS, JiebaSegmenter, Tokenizer, dictionary_cache_path


def test_full_width_letters_and_digits_match_ascii(tokenizer: Tokenizer) -> None:
    assert tokenizer("ＤｅｅｐＳｅｅｋ　１２３") == tokenizer("DeepSeek 123") == ["deepseek", "123"]


def test_latin_tokens_are_lower_case(tokenizer: Tokenizer) -> None:
    assert tokenizer("NVIDIA Nvidia nvidia") == ["nvidia"] * 3


def test_hyphenated_name_gives_the_whole_and_its_parts(tokenizer: Tokenizer) -> None:
    assert tokenizer("DeepSeek-V3") == ["deepseek-v3", "deepseek", "v3"]


def test_spaced_name_shares_tokens_with_the_hyphenated_one(tokenizer: Tokenizer) -> None:
    assert set(tokenizer("DeepSeek V3")) <= set(tokenizer("DeepSeek-V3"))


def test_decimal_number_is_kept_whole(tokenizer: Tokenizer) -> None:
    tokens = tokenizer("557.6万美元")
    assert "557.6" in tokens
    assert "美元" in tokens


def test_letters_with_digits_stay_one_token(tokenizer: Tokenizer) -> None:
    assert tokenizer("H200芯片")[0] == "h200"
    assert "芯片" in tokenizer("H200芯片")


@pytest.mark.parametrize(("word", "tokens"), [
    ("rMPB2015", ["rmpb2015", "rmpb", "2015"]),  # "rMPB" in a question finds the machine of 2015
    ("python3", ["python3", "python"]),
    ("iPhone16", ["iphone16", "iphon"]),  # stemmed as "iPhone" alone is
    ("H200", ["h200"]),  # too short to stand alone: h, 200
    ("b2b", ["b2b"]),
])
def test_a_name_with_a_number_glued_on_is_also_the_name(tokenizer: Tokenizer, word: str, tokens: list[str]) -> None:
    assert tokenizer(word) == tokens


def test_possessive_s_is_dropped(tokenizer: Tokenizer) -> None:
    assert tokenizer("OpenAI's model") == ["openai", "model"]


@pytest.mark.parametrize("word", ["什么", "哪里", "多少", "what", "which", "为什么", "请问", "the", "is"])
def test_question_words_and_stop_words_are_dropped(tokenizer: Tokenizer, word: str) -> None:
    assert word in STOPWORDS
    assert tokenizer(word) == []


def test_question_keeps_only_its_content_words(tokenizer: Tokenizer) -> None:
    tokens = tokenizer("DeepSeek V3 的训练成本是多少？")
    assert {"deepseek", "v3", "训练", "成本"} <= set(tokens)
    assert not {"的", "是", "多少", "是多少"} & set(tokens)


@pytest.mark.parametrize("text", ["", "   \n\t", "？！。，……", "😀🎉👍🏽", "!!! ??? ...", "—— · ——", "\u200b\u200d"])
def test_punctuation_and_emoji_only_give_no_tokens(tokenizer: Tokenizer, text: str) -> None:
    assert tokenizer(text) == []


def test_traditional_and_simplified_give_the_same_tokens(tokenizer: Tokenizer) -> None:
    assert tokenizer("英偉達股價") == tokenizer("英伟达股价")
    assert tokenizer("道瓊斯工業平均指數收漲342點") == tokenizer("道琼斯工业平均指数收涨342点")


def test_normalize_folds_width_case_and_script(tokenizer: Tokenizer) -> None:
    assert tokenizer.normalize("ＡＩ晶片與GPU") == tokenizer.normalize("ai晶片与gpu")


def test_unknown_name_matches_through_bigrams(tokenizer: Tokenizer) -> None:
    question = set(tokenizer("邓飏是谁"))
    article = set(tokenizer("邓飏在会上发言"))
    assert "邓飏" in question & article


@pytest.fixture(scope="module")
def plain() -> Tokenizer:
    """A second tokenizer, without bigrams (it loads its own jieba dictionary)."""
    return Tokenizer(bigrams=False)


def test_without_bigrams_only_jieba_words_remain(tokenizer: Tokenizer, plain: Tokenizer) -> None:
    assert set(plain("英伟达股价")) < set(tokenizer("英伟达股价"))
    assert "达股" not in plain("英伟达股价")


def test_tokenizers_do_not_share_segmenter_state(tokenizer: Tokenizer, plain: Tokenizer) -> None:
    plain.segmenter.add_word("飏是谁的", 100)
    assert "飏是谁的" in plain("邓飏是谁的")
    assert "飏是谁的" not in tokenizer("邓飏是谁的")


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_tokens_are_never_empty_and_never_contain_whitespace(tokenizer: Tokenizer, text: str) -> None:
    for token in tokenizer(text):
        assert token
        assert not any(ch.isspace() for ch in token)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0x3000, max_codepoint=0x9FFF)
               | st.sampled_from(list(" \t\n-.'_+&aZ9０Ａ"))))
def test_chinese_heavy_text_tokens_are_never_empty_and_never_contain_whitespace(tokenizer: Tokenizer,
                                                                               text: str) -> None:
    for token in tokenizer(text):
        assert token
        assert not any(ch.isspace() for ch in token)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_chinese_tokens_are_substrings_of_the_normalized_text(tokenizer: Tokenizer, text: str) -> None:
    """What lets a sentence be weighed by substring tests, without running jieba again."""
    normalized = tokenizer.normalize(text)
    for token in tokenizer(text):
        assert token.isascii() or token in normalized


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("abcdefgsnr019 ,.-'$"))))
def test_latin_tokens_come_from_one_word_of_the_text(tokenizer: Tokenizer, text: str) -> None:
    """What highlighting relies on: a word's own tokens say whether the question asked for it."""
    words = {token for _, _, tokens in tokenizer.latin_words(tokenizer.normalize(text)) for token in tokens}
    for token in tokenizer(text):
        assert token in words or token.startswith("=")  # "=" tokens are values: test_scaled_numbers_…


@pytest.mark.parametrize(("asked", "written"), [
    ("earned", "earnings"),
    ("running", "runs"),
    ("companies", "company"),
    ("How much did Nvidia earn", "Nvidia earnings"),
])
def test_english_inflections_meet(tokenizer: Tokenizer, asked: str, written: str) -> None:
    assert set(tokenizer(asked)) & set(tokenizer(written)) - {"nvidia"}


@pytest.mark.parametrize("form", ["$14 billion", "14bn", "14 billion dollars"])
def test_number_forms_meet(tokenizer: Tokenizer, form: str) -> None:
    assert {"14", "billion"} <= set(tokenizer(form))


@pytest.mark.parametrize(("one", "other"), [
    ("出价974亿美元", "bid 97.4 billion dollars"),
    ("营收140亿美元", "revenue of $14 billion"),
    ("105万桶/日", "1.05 million barrels a day"),
    ("2.3亿美元", "$230 million"),
    ("6,380亿", "638 billion"),
])
def test_scaled_numbers_meet_across_languages(tokenizer: Tokenizer, one: str, other: str) -> None:
    values = [{t for t in tokenizer(text) if t.startswith("=")} for text in (one, other)]
    assert values[0] and values[0] == values[1]


def test_thousands_separators_are_one_number(tokenizer: Tokenizer) -> None:
    assert tokenizer("3,870.08") == tokenizer("3870.08") == ["3870.08"]
    assert tokenizer("1,2") == ["1", "2"]  # not a thousands separator


def test_english_question_phrasing_is_dropped(tokenizer: Tokenizer) -> None:
    assert tokenizer("How much did it cost and how many were there?") == ["cost"]


def test_lone_surrogates_are_ignored(tokenizer: Tokenizer) -> None:
    assert tokenizer("DeepSeek \udcff") == ["deepseek"]


def test_jieba_dictionary_from_our_copy_equals_jiebas_own() -> None:
    import jieba

    Tokenizer(segmenter="jieba")("预热")  # makes sure the copy exists
    ours = JiebaSegmenter().jieba
    theirs = jieba.Tokenizer()
    theirs.initialize()
    assert ours.FREQ == theirs.FREQ and ours.total == theirs.total


def test_a_broken_dictionary_copy_is_made_again() -> None:
    path = Path(dictionary_cache_path())
    path.write_bytes(b"not a pickle")
    assert "珊瑚礁" in Tokenizer(segmenter="jieba")("白尾雀鲷的珊瑚礁")
    freq, total = pickle.loads(path.read_bytes())
    assert total > 0 and freq["珊瑚礁"] > 0
