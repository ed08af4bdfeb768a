"""rjieba and jieba: two segmenters, one set of tokens.

The index is built with rjieba where it is installed and with jieba where it is not, and both
builds share one cache key; that is only right if they cut every text alike. These tests hold
them to it on every article of the bundled corpus (Simplified, Traditional and English, news
and WeChat) and on text written to break them; the fallback test runs the whole tokenizer
with jieba alone, as a machine without rjieba would.
"""

from __future__ import annotations

import builtins
import random
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.search.articles import load_article, read_text
from bot.search.library import indexed, paragraph_tokens
from bot.search.site import open_site
from bot.search.tokens import _CJK_RUN, JiebaSegmenter, RjiebaSegmenter, Tokenizer, default_segmenter

pytest.importorskip("rjieba")

CORPUS = Path(__file__).parents[1] / "corpus"


@pytest.fixture(scope="module")
def reference() -> Tokenizer:
    return Tokenizer(segmenter="jieba")


@pytest.fixture(scope="module")
def rust() -> Tokenizer:
    return Tokenizer(segmenter="rjieba")


def corpus_texts() -> list[tuple[str, str]]:
    """(file name, text) for every article of the bundled corpus."""
    return [(path.name, path.read_text(encoding="utf-8")) for path in sorted(CORPUS.rglob("*.md"))
            if path.name != "README.md"]


def test_the_corpus_sample_covers_every_language_it_has() -> None:
    names = [name for name, _ in corpus_texts()]
    assert any(".zh-HK." in n for n in names) and any(".en." in n for n in names)
    assert any(".zh-CN." in n for n in names) and any(n.count(".") == 1 for n in names)  # WeChat: no suffix


@pytest.mark.parametrize(("name", "text"), corpus_texts(), ids=[name for name, _ in corpus_texts()])
def test_rjieba_cuts_every_corpus_article_as_jieba_does(reference: Tokenizer, rust: Tokenizer,
                                                         name: str, text: str) -> None:
    """Raw (Markdown, front matter, Latin, punctuation and all) and as the tokenizer feeds it."""
    assert rust.segmenter.cut(text) == reference.segmenter.cut(text)
    runs = _CJK_RUN.findall(reference.normalize(text))
    assert rust.segmenter.cut("\n".join(runs)) == reference.segmenter.cut("\n".join(runs))
    assert rust(text) == reference(text)


def test_corpus_articles_index_to_the_same_tokens(reference: Tokenizer, rust: Tokenizer) -> None:
    site = open_site(CORPUS)
    for path in sorted(CORPUS.rglob("*.md")):
        if path.name == "README.md":
            continue
        article = load_article(path, read_text(path, 10**7), site=site)
        assert paragraph_tokens(rust, article) == paragraph_tokens(reference, article), path.name
        ours, theirs = indexed(rust, article)[1], indexed(reference, article)[1]
        assert ours.terms == theirs.terms and ours.ids.tolist() == theirs.ids.tolist(), path.name


def random_text(seed: int, alphabet: str, length: int) -> str:
    rnd = random.Random(seed)
    return "".join(rnd.choice(alphabet) for _ in range(length))


COMMON = "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半候七必城父强步完革深区即求品士转量空甚众技轻程告江语英基派满式李息写呢识极令黄德收脸钱党倒未持音"  # noqa: E501


HOSTILE = {
    "one long run": random_text(1, COMMON, 50_000),
    "one character repeated": "啊" * 20_000,
    "words repeated": "中华人民共和国" * 3_000,
    "mixed scripts": "DeepSeek-V3在H200上训练,成本557.6万美元;日本語のテキスト、한국어 텍스트、Русский текст、"
                     "العربية、Ελληνικά ΣΟΦΟΣ、ℌ𝔢𝔩𝔩𝔬、ｆｕｌｌ－ｗｉｄｔｈ１２３、㐀㐁䶵鿕鿫鿿、𠀀𠀁𪜀、兀嗀﨎﨏",
    "emoji": "我😀们👍🏽在👨‍👩‍👧‍👦一起🇨🇳中国❤️\ufe0f东京🏳️‍🌈北京" * 50,
    "control characters": "中\x00国\x01人\x07民\x1b[31m红\x7f色\x85\u2028段\u2029落\u200b零\u200d宽\ufeff字\t符\r\n换\n行\r回",
    "combining marks": "é中́国̈人ñ民" + "\u0301" * 50 + "大学",
    "punctuation between words": "，".join(["北京大学", "清华大学", "复旦大学"] * 500),
    "long Latin and digits": "abc123" * 5_000 + "中文" + "9" * 10_000,
    "traditional": "英偉達股價在道瓊斯工業平均指數收漲342點之後創下歷史新高，長江實業與匯豐銀行" * 100,
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_rjieba_cuts_hostile_text_as_jieba_does(reference: Tokenizer, rust: Tokenizer, name: str) -> None:
    text = HOSTILE[name]
    assert rust.segmenter.cut(text) == reference.segmenter.cut(text)
    assert rust(text) == reference(text)
    assert rust.seams(text) == reference.seams(text)


TIE_PRONE = ["哈", "哈哈", "啊", "一", "一一", "好", "呵呵", "中国", "人民", "北京", "大学", "学生", "生活", "活动", "的",
             "是", "一点", "谢谢", "天", "天天", "常", "常常", "人人", "个", "个个"]


def test_rjieba_breaks_ties_as_jieba_does(reference: Tokenizer, rust: Tokenizer) -> None:
    """Text built of words that can be cut in several orders scoring exactly alike (一一一 is 一一/一
    or 一/一一): jieba-rs alone would cut one in ten of these differently."""
    assert rust.segmenter.cut("一一一好一学哈动哈活生呵的的好呵哈生京的啊呵京人呵呵国的一生生活生活哈好好生") == \
        reference.segmenter.cut("一一一好一学哈动哈活生呵的的好呵哈生京的啊呵京人呵呵国的一生生活生活哈好好生")
    rnd = random.Random(7)
    for _ in range(1000):
        text = "".join(rnd.choice(TIE_PRONE) for _ in range(rnd.randint(3, 120)))
        assert rust.segmenter.cut(text) == reference.segmenter.cut(text), text


def test_runs_joined_by_line_breaks_are_cut_as_jieba_cuts_them(reference: Tokenizer, rust: Tokenizer) -> None:
    """How the tokenizer feeds a file's runs: one call, runs joined by line breaks, a few of them
    holding a stretch three times over (哈哈哈) that jieba-rs could cut the other way."""
    rnd = random.Random(11)
    for _ in range(500):
        lines = ["".join(rnd.choice(TIE_PRONE) for _ in range(rnd.randint(0, 25))) for _ in range(rnd.randint(1, 9))]
        text = "\n".join(lines)
        assert rust.segmenter.cut(text) == reference.segmenter.cut(text), text


def test_only_the_lines_holding_a_tripled_stretch_are_cut_by_jieba() -> None:
    """One 哈哈哈 in a file must not send the whole file to the slow segmenter."""
    segmenter = RjiebaSegmenter()
    sent: list[str] = []
    reference_cut = segmenter._reference.cut
    segmenter._reference.cut = lambda text: sent.append(text) or reference_cut(text)  # type: ignore[method-assign]
    words = segmenter.cut("北京大学\n哈哈哈\n清华大学\n复旦大学")
    assert sent == ["哈哈哈"]
    assert words == JiebaSegmenter().cut("北京大学\n哈哈哈\n清华大学\n复旦大学")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0x3000, max_codepoint=0x9FFF)
               | st.sampled_from(list(COMMON[:200]) + list(" \t\n\r\x00-._+#&%，。😀\u200b㐀鿿﨎aZ9"))))
def test_rjieba_cuts_any_chinese_heavy_text_as_jieba_does(reference: Tokenizer, rust: Tokenizer, text: str) -> None:
    assert rust.segmenter.cut(text) == reference.segmenter.cut(text)
    assert rust(text) == reference(text)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_rjieba_cuts_any_text_as_jieba_does(reference: Tokenizer, rust: Tokenizer, text: str) -> None:
    assert rust.segmenter.cut(text) == reference.segmenter.cut(text)


def test_a_new_word_with_its_frequency_is_cut_alike() -> None:
    jieba, rjieba = JiebaSegmenter(), RjiebaSegmenter()
    for segmenter in (jieba, rjieba):
        segmenter.add_word("白尾雀鲷", 2000)
        segmenter.add_word("飏是谁的", 5)
    for text in ("白尾雀鲷在珊瑚礁里", "邓飏是谁的学生", "白尾雀鲷的白尾"):
        assert rjieba.cut(text) == jieba.cut(text)
    assert "白尾雀鲷" in rjieba.cut("白尾雀鲷在珊瑚礁里")


@pytest.mark.parametrize("kind", [JiebaSegmenter, RjiebaSegmenter])
def test_a_word_added_to_one_segmenter_reaches_no_other(kind: type[JiebaSegmenter] | type[RjiebaSegmenter]) -> None:
    """rjieba's segmenters cut with the instance its import builds until a word is added to one:
    that one then gets an instance of its own, and the shared one stays as the dictionary has it."""
    taught, other = kind(), kind()
    before = other.cut("邓飏是谁的学生")
    taught.add_word("飏是谁的", 5)
    assert "飏是谁的" in taught.cut("邓飏是谁的学生")
    assert other.cut("邓飏是谁的学生") == kind().cut("邓飏是谁的学生") == before


def test_rjieba_refuses_to_reweigh_a_word_it_knows() -> None:
    with pytest.raises(ValueError, match="in the dictionary already"):
        RjiebaSegmenter().add_word("中国", 10)


def test_both_segmenters_share_one_cache_key(reference: Tokenizer, rust: Tokenizer) -> None:
    assert reference.cache_key == rust.cache_key


def test_rjieba_is_the_default_where_installed() -> None:
    assert default_segmenter() == "rjieba"
    assert Tokenizer().segmenter_name == "rjieba"


def test_unknown_segmenter_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown segmenter"):
        Tokenizer(segmenter="thulac")


def test_workers_use_the_parent_tokenizers_segmenter() -> None:
    import pickle

    assert pickle.loads(pickle.dumps(Tokenizer(segmenter="jieba"))).segmenter_name == "jieba"


def test_without_rjieba_jieba_tokenizes(monkeypatch: pytest.MonkeyPatch, reference: Tokenizer) -> None:
    """A machine without rjieba: nothing imports it, and jieba gives the tokens the tests expect."""
    real_import = builtins.__import__

    def no_rjieba(name: str, *args: object, **kwargs: object) -> object:
        if name == "rjieba" or name.startswith("rjieba."):
            raise ImportError("No module named 'rjieba'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_rjieba)
    monkeypatch.setitem(sys.modules, "rjieba", None)  # find_spec then raises: treated as not installed
    monkeypatch.setattr("bot.search.tokens.find_spec", lambda name: None if name == "rjieba" else object())
    tokenizer = Tokenizer()
    assert tokenizer.segmenter_name == "jieba"
    text = "DeepSeek V3 的训练成本是多少？英偉達股價"
    assert tokenizer(text) == reference(text)
    assert {"deepseek", "v3", "训练", "成本", "股价"} <= set(tokenizer(text))
    assert isinstance(tokenizer.segmenter, JiebaSegmenter)
