"""dates.py: the date a reader's question names, as a specification.

Unless a test says otherwise, relative dates count from ANCHOR, Thursday 2025-02-20 (the newest
article of the collection): its ISO week runs Monday 2025-02-17 to Sunday 2025-02-23.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.search.dates import DateSpan, anchor_date, find_date

ANCHOR = date(2025, 2, 20)


def named(question: str, anchor: date = ANCHOR) -> tuple[str, str] | None:
    """(the span as the answer states it, the words that named it), or None."""
    span = find_date(question, anchor)
    return None if span is None else (str(span), span.text)


# The span


def test_a_span_states_its_days_and_holds_its_ends() -> None:
    day = DateSpan(date(2025, 2, 13), date(2025, 2, 13), "day", "2月13日")
    week = DateSpan(date(2025, 2, 10), date(2025, 2, 16), "week", "上周")
    month = DateSpan(date(2025, 2, 1), date(2025, 2, 28), "month", "2025年2月")
    assert (str(day), str(week), str(month)) == ("2025-02-13", "2025-02-10 – 2025-02-16", "2025-02")
    assert week.holds(date(2025, 2, 10)) and week.holds(date(2025, 2, 16))
    assert not week.holds(date(2025, 2, 9)) and not week.holds(date(2025, 2, 17))


def test_relative_dates_count_from_the_newest_article_unless_it_is_in_the_future() -> None:
    today = date(2025, 6, 1)
    assert anchor_date(date(2025, 2, 20), today) == date(2025, 2, 20)
    assert anchor_date(date(2025, 7, 1), today) == today
    assert anchor_date(None, today) == today


# Absolute days


@pytest.mark.parametrize(("question", "expected"), [
    ("2月13日港股午间收盘恒指多少点", ("2025-02-13", "2月13日")),
    ("2月11日的期货早餐里说了哪些品种", ("2025-02-11", "2月11日")),
    ("2月13号A股成交额", ("2025-02-13", "2月13号")),
    ("2月13號恒指收市", ("2025-02-13", "2月13號")),
    ("2025年2月13日港股收盘", ("2025-02-13", "2025年2月13日")),
    ("2025 年 2 月 13 日的新闻", ("2025-02-13", "2025 年 2 月 13 日")),
    ("2025-02-13的美股", ("2025-02-13", "2025-02-13")),
    ("2025/2/13 收盘", ("2025-02-13", "2025/2/13")),
    ("2025.2.13 收盘", ("2025-02-13", "2025.2.13")),
    ("2/13收盘价", ("2025-02-13", "2/13")),
    ("恒指 2/3 午盘", ("2025-02-03", "2/3")),
])
def test_chinese_and_numeric_days(question: str, expected: tuple[str, str]) -> None:
    assert named(question) == expected


@pytest.mark.parametrize(("question", "expected"), [
    ("Where did the index finish on Feb 12?", ("2025-02-12", "on Feb 12")),
    ("What did Nvidia report February 12?", ("2025-02-12", "February 12")),
    ("News from 12 February", ("2025-02-12", "12 February")),
    ("Markets on Feb. 12, 2025", ("2025-02-12", "on Feb. 12, 2025")),
    ("What happened on 12 Feb 2025 in Hong Kong", ("2025-02-12", "on 12 Feb 2025")),
    ("the 12th of February close", ("2025-02-12", "the 12th of February")),
    ("oil prices on feb 3rd", ("2025-02-03", "on feb 3rd")),
    ("May 5 earnings", ("2024-05-05", "May 5")),
])
def test_english_days(question: str, expected: tuple[str, str]) -> None:
    assert named(question) == expected


def test_a_month_and_day_without_a_year_is_the_latest_on_or_before_the_anchor() -> None:
    assert named("2月13日", date(2025, 2, 20)) == ("2025-02-13", "2月13日")
    assert named("2月13日", date(2025, 2, 13)) == ("2025-02-13", "2月13日")
    assert named("2月13日", date(2025, 2, 10)) == ("2024-02-13", "2月13日")
    assert named("12月31日", date(2025, 1, 2)) == ("2024-12-31", "12月31日")
    assert named("2月29日", date(2025, 2, 20)) == ("2024-02-29", "2月29日")


def test_a_date_with_its_year_is_that_date_even_after_the_anchor() -> None:
    assert named("2025年3月1日会怎样") == ("2025-03-01", "2025年3月1日")
    assert named("1997年7月1日") == ("1997-07-01", "1997年7月1日")


def test_days_that_do_not_exist_are_no_date() -> None:
    assert find_date("2月30日的行情", ANCHOR) is None
    assert find_date("2025年2月30日", ANCHOR) is None
    assert find_date("2025年2月29日", ANCHOR) is None
    assert find_date("2025-13-01", ANCHOR) is None
    assert find_date("13/5 的报告", ANCHOR) is None
    assert find_date("Feb 30", ANCHOR) is None


def test_full_width_digits_are_read_and_quoted_as_written() -> None:
    assert named("２月１３日港股") == ("2025-02-13", "２月１３日")
    assert named("２０２５－０２－１３") == ("2025-02-13", "２０２５－０２－１３")
    assert named("Ｆｅｂ　１２") == ("2025-02-12", "Ｆｅｂ　１２")


# Relative days and weekdays


@pytest.mark.parametrize(("question", "expected"), [
    ("今天港股怎么样", ("2025-02-20", "今天")),
    ("今日恒指", ("2025-02-20", "今日")),
    ("昨天英伟达股价", ("2025-02-19", "昨天")),
    ("昨日美股收盘", ("2025-02-19", "昨日")),
    ("琴日恒指收市幾多點", ("2025-02-19", "琴日")),
    ("尋日金價", ("2025-02-19", "尋日")),
    ("寻日金价", ("2025-02-19", "寻日")),
    ("前天的期货早餐", ("2025-02-18", "前天")),
    ("前日港股", ("2025-02-18", "前日")),
    ("What happened today?", ("2025-02-20", "today")),
    ("yesterday's close", ("2025-02-19", "yesterday")),
    ("the day before yesterday", ("2025-02-18", "the day before yesterday")),
])
def test_relative_days(question: str, expected: tuple[str, str]) -> None:
    assert named(question) == expected


@pytest.mark.parametrize(("question", "expected"), [
    ("周五美股", ("2025-02-14", "周五")),
    ("週三恒指", ("2025-02-19", "週三")),
    ("周四收盘", ("2025-02-20", "周四")),
    ("星期五美股怎么样", ("2025-02-14", "星期五")),
    ("礼拜一A股", ("2025-02-17", "礼拜一")),
    ("禮拜五港股", ("2025-02-14", "禮拜五")),
    ("星期天发布了什么", ("2025-02-16", "星期天")),
    ("上周五美股怎么样", ("2025-02-14", "上周五")),
    ("上週五恒指", ("2025-02-14", "上週五")),
    ("上星期五", ("2025-02-14", "上星期五")),
    ("上个星期一", ("2025-02-10", "上个星期一")),
    ("上周日", ("2025-02-16", "上周日")),
    ("本周五", ("2025-02-21", "本周五")),
    ("这周二", ("2025-02-18", "这周二")),
    ("What happened last Friday?", ("2025-02-14", "last Friday")),
    ("the Fed on Wednesday", ("2025-02-19", "on Wednesday")),
    ("on Thursday", ("2025-02-20", "on Thursday")),
    ("this Monday", ("2025-02-17", "this Monday")),
])
def test_weekdays(question: str, expected: tuple[str, str]) -> None:
    assert named(question) == expected


def test_a_bare_weekday_is_the_latest_on_or_before_the_anchor_and_last_week_s_is_in_the_previous_week() -> None:
    monday = date(2025, 2, 17)
    assert named("周五", monday) == ("2025-02-14", "周五")
    assert named("上周五", monday) == ("2025-02-14", "上周五")
    sunday = date(2025, 2, 23)
    assert named("周五", sunday) == ("2025-02-21", "周五")
    assert named("上周五", sunday) == ("2025-02-14", "上周五")
    assert named("last Friday", sunday) == ("2025-02-21", "last Friday")
    assert named("last Friday", date(2025, 2, 21)) == ("2025-02-14", "last Friday")


# Weeks and months


@pytest.mark.parametrize(("question", "expected"), [
    ("本周港股", ("2025-02-17 – 2025-02-23", "本周")),
    ("这周美股", ("2025-02-17 – 2025-02-23", "这周")),
    ("這週科技股", ("2025-02-17 – 2025-02-23", "這週")),
    ("How did stocks do this week?", ("2025-02-17 – 2025-02-23", "this week")),
    ("上周美股", ("2025-02-10 – 2025-02-16", "上周")),
    ("上週恒指", ("2025-02-10 – 2025-02-16", "上週")),
    ("上个星期的新闻", ("2025-02-10 – 2025-02-16", "上个星期")),
    ("last week's jobs report", ("2025-02-10 – 2025-02-16", "last week")),
    ("本月的期货早餐", ("2025-02", "本月")),
    ("这个月", ("2025-02", "这个月")),
    ("this month", ("2025-02", "this month")),
    ("上个月CPI", ("2025-01", "上个月")),
    ("上個月恒指", ("2025-01", "上個月")),
    ("last month", ("2025-01", "last month")),
    ("上月15日", ("2025-01-15", "上月15日")),
    ("2025年2月的文章", ("2025-02", "2025年2月")),
    ("February 2025 earnings", ("2025-02", "February 2025")),
    ("What happened in Feb 2025?", ("2025-02", "in Feb 2025")),
    ("2025-02 的文章", ("2025-02", "2025-02")),
])
def test_weeks_and_months(question: str, expected: tuple[str, str]) -> None:
    assert named(question) == expected


def test_a_week_and_a_month_span_all_their_days() -> None:
    week = find_date("上周", ANCHOR)
    month = find_date("上个月", date(2025, 3, 10))
    assert week is not None and (week.start, week.end, week.kind) == (date(2025, 2, 10), date(2025, 2, 16), "week")
    assert month is not None and (month.start, month.end, month.kind) == (date(2025, 2, 1), date(2025, 2, 28),
                                                                        "month")
    january = find_date("last month", date(2025, 1, 5))
    assert january is not None and str(january) == "2024-12"


# What is no date


@pytest.mark.parametrize("question", [
    "13日均线是多少", "5日内涨了多少", "近30天的走势", "3月期国债收益率", "2/3的资金流向", "24小时成交量",
    "约1/3仓位", "1/2的涨幅", "about 1/3 of the index", "12/2/13", "v1/2版本",
])
def test_durations_ratios_and_moving_averages_are_no_date(question: str) -> None:
    assert find_date(question, ANCHOR) is None


@pytest.mark.parametrize("question", [
    "3月美联储会议", "13日", "2025年业绩", "in February", "恒指收报20000点", "涨了15%", "2024-25赛季",
    "英伟达财报怎么样", "What did Nvidia say about AI?", "stocks may 5 times",
])
def test_bare_months_years_plain_numbers_and_dateless_text_are_no_date(question: str) -> None:
    assert find_date(question, ANCHOR) is None


@pytest.mark.parametrize("question", [
    "下周五", "下个月", "每周五", "黑色星期五", "next Friday", "本周期", "周边市场", "今日头条",
    "目前日本央行", "之前天气", "基本月薪", "日本月度数据", "登上月球", "周日均成交额",
])
def test_the_future_every_week_and_words_that_merely_contain_date_characters_are_no_date(question: str) -> None:
    assert find_date(question, ANCHOR) is None


def test_the_first_date_named_wins() -> None:
    assert named("2月13日和2月14日") == ("2025-02-13", "2月13日")
    assert named("昨天和上周五相比") == ("2025-02-19", "昨天")
    assert named("2/3的仓位，2月14日") == ("2025-02-14", "2月14日")


# Properties

_DAYS = st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31))
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")
_ABSOLUTE = (
    lambda d: f"{d.year}年{d.month}月{d.day}日",
    lambda d: d.isoformat(),
    lambda d: f"{d.year}/{d.month}/{d.day}",
    lambda d: f"{_MONTHS[d.month - 1]} {d.day}, {d.year}",
    lambda d: f"{_MONTHS[d.month - 1][:3]}. {d.day}, {d.year}",
    lambda d: f"{d.day} {_MONTHS[d.month - 1]} {d.year}",
)


@given(_DAYS, st.sampled_from(_ABSOLUTE), st.sampled_from(["", "请问", "What about "]),
       st.sampled_from(["", "的收盘", "?"]))
def test_any_date_written_in_any_absolute_format_reads_back(day: date, form: Callable[[date], str], before: str,
                                                            after: str) -> None:
    written = form(day)
    span = find_date(f"{before}{written}{after}", ANCHOR)
    assert span == DateSpan(day, day, "day", written)


@given(_DAYS, st.integers(min_value=0, max_value=364))
def test_a_month_and_day_read_within_a_year_after_is_that_day(day: date, later: int) -> None:
    for written in (f"{day.month}月{day.day}日", f"{_MONTHS[day.month - 1]} {day.day}", f"{day.month}/{day.day}"):
        span = find_date(written, day + timedelta(days=later))
        assert span is not None and (span.start, span.text) == (day, written)


_DATE_LIKE = st.lists(st.sampled_from([*"0123456789/-.年月日号號周週上下本这今昨前天琴尋星期五礼拜的 ", "２", "　",
                                       "Feb", "may", "on ", "last ", "this ", "week", "Friday", "2025"]),
                      max_size=15).map("".join)
"""Text made of the pieces dates are written with, so the property meets near-dates, not only noise."""


@given(st.one_of(st.text(max_size=60), _DATE_LIKE), _DAYS)
def test_any_text_gives_a_valid_span_quoted_from_the_question_or_none(question: str, anchor: date) -> None:
    span = find_date(question, anchor)
    if span is not None:
        assert span.start <= span.end and span.text in question and span.text == span.text.strip() != ""
