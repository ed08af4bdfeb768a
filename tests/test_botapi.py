"""Specification of the Bot API stand-in (tests/support/botapi.py): each rule Telegram enforces, tested
over real HTTP with httpx, and the whole thing driven once by a real python-telegram-bot ``Bot``.

Run with ``PYTHONPATH=tests`` (or ``pythonpath = ["tests"]`` in the pytest configuration).
"""

from __future__ import annotations

import asyncio
import html
import json
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.botapi import BotApiServer, render_text

TOKEN = "123456:ABC-def_ghi"
CHAT = 42


@pytest.fixture
def api() -> Iterator[BotApiServer]:
    with BotApiServer(token=TOKEN) as server:
        yield server


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    """One client for all tests: building httpx's TLS context takes ~50 ms each time."""
    with httpx.Client(timeout=10) as http:
        yield http


class Caller:
    """Posts JSON to the stand-in the way any HTTP client would; returns (status, body)."""

    def __init__(self, api: BotApiServer, client: httpx.Client) -> None:
        self.api, self.client = api, client

    def __call__(self, method: str, token: str = TOKEN, **params: Any) -> tuple[int, Any]:
        response = self.client.post(f"{self.api.base_url}{token}/{method}", json=params)
        return response.status_code, response.json()

    def ok(self, method: str, **params: Any) -> Any:
        status, body = self(method, **params)
        assert (status, body["ok"]) == (200, True), body
        return body["result"]

    def error(self, method: str, **params: Any) -> str:
        status, body = self(method, **params)
        assert status == body["error_code"] and not body["ok"], body
        return body["description"]


@pytest.fixture
def call(api: BotApiServer, client: httpx.Client) -> Caller:
    api.send_text(CHAT, "/start")  # Telegram only knows chats that wrote to the bot
    return Caller(api, client)


def keyboard(*buttons: dict[str, Any]) -> dict[str, Any]:
    return {"inline_keyboard": [list(buttons)]}


A_BUTTON = keyboard({"text": "A", "callback_data": "a"})


# -- HTML parse mode ---------------------------------------------------------------------------

@pytest.mark.parametrize(("markup", "text", "entity_types"), [
    ("<b>bold</b> <strong>s</strong> <i>i</i> <em>e</em>", "bold s i e",
     ["bold", "bold", "italic", "italic"]),
    ("<u>u</u><ins>n</ins><s>s</s><strike>k</strike><del>d</del>", "unskd",
     ["underline", "underline", "strikethrough", "strikethrough", "strikethrough"]),
    ('<span class="tg-spoiler">a</span> <tg-spoiler>b</tg-spoiler>', "a b", ["spoiler", "spoiler"]),
    ('<a href="https://example.com/?a=1&amp;b=2">link</a>', "link", ["text_link"]),
    ("<code>x</code> <pre>y</pre>", "x y", ["code", "pre"]),
    ('<pre><code class="language-python">print(1)</code></pre>', "print(1)", ["pre"]),
    ("<blockquote>q</blockquote>\n<blockquote expandable>w</blockquote>", "q\nw",
     ["blockquote", "expandable_blockquote"]),
    ('<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>', "👍", ["custom_emoji"]),
    ("1 &lt; 2 &amp;&amp; 3 &gt; 2 &quot;q&quot; &#39;s&#x27; &#128512;",
     "1 < 2 && 3 > 2 \"q\" 's' 😀", []),
    ("<b>bold <i>and italic</i></b>", "bold and italic", ["bold", "italic"]),
    ("<B>caps tags</b>", "caps tags", ["bold"]),
])
def test_valid_html_is_accepted_and_sent_as_plain_text_with_entities(
        call: Caller, markup: str, text: str, entity_types: list[str]) -> None:
    message = call.ok("sendMessage", chat_id=CHAT, text=markup, parse_mode="HTML")
    assert message["text"] == text
    assert [entity["type"] for entity in message.get("entities", [])] == entity_types


def test_entities_carry_utf16_offsets_urls_and_languages(call: Caller) -> None:
    message = call.ok("sendMessage", chat_id=CHAT, parse_mode="HTML",
                      text='😀 <a href="https://e.com">x</a> <pre><code class="language-py">y</code></pre>')
    assert message["entities"] == [{"type": "text_link", "offset": 3, "length": 1, "url": "https://e.com"},
                                   {"type": "pre", "offset": 5, "length": 1, "language": "py"}]


@pytest.mark.parametrize(("markup", "reason"), [
    ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
    ("I <3 you", 'Unsupported start tag "3" at byte offset 2'),
    ("a<3", "Unclosed start tag at byte offset 1"),
    ("AT&T", 'Unescaped "&" at byte offset 2'),
    ("&nbsp;", 'Unescaped "&" at byte offset 0'),
    ("<h1>title</h1>", 'Unsupported start tag "h1" at byte offset 0'),
    ("<br/>", 'Unsupported start tag "br/" at byte offset 0'),
    ("<span>x</span>", 'Tag "span" must have class "tg-spoiler"'),
    ("<b>unclosed", 'Can\'t find end tag corresponding to start tag "b"'),
    ("stray</b>", "Unexpected end tag at byte offset 5"),
    ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
    ("<b", "Unclosed start tag at byte offset 0"),
    ('<a href="https://a.b"><a href="https://c.d">x</a></a>', 'Tag "a" can\'t be nested'),
    ("<blockquote><blockquote>x</blockquote></blockquote>", 'Tag "blockquote" can\'t be nested'),
    ("<a href=https://x.y>x</a>", "Unexpected end of name token"),
    ("<a href>x</a>", "Expected equal sign"),
    ('<tg-emoji emoji-id="x">👍</tg-emoji>', "Invalid custom emoji identifier specified"),
])
def test_invalid_html_is_rejected_with_telegrams_description(call: Caller, markup: str, reason: str) -> None:
    description = call.error("sendMessage", chat_id=CHAT, text=markup, parse_mode="HTML")
    assert description.startswith("Bad Request: can't parse entities: ")
    assert reason in description


def test_plain_text_is_not_parsed(call: Caller) -> None:
    assert call.ok("sendMessage", chat_id=CHAT, text="1 < 2 & <b>")["text"] == "1 < 2 & <b>"


def test_strict_ampersand_can_be_relaxed_to_telegrams_literal_behaviour() -> None:
    assert render_text("AT&T &nbsp;", "HTML", None, strict_ampersand=False)[0] == "AT&T &nbsp;"


@settings(max_examples=200, deadline=None, database=None)
@given(st.text(min_size=1, max_size=300).filter(str.strip))
def test_any_text_escaped_with_html_escape_arrives_unchanged(text: str) -> None:
    assert render_text(html.escape(text), "HTML", None, strict_ampersand=True)[0] == text.strip()


# -- text length and emptiness ------------------------------------------------------------------

def test_length_limit_is_4096_utf16_code_units(call: Caller) -> None:
    at_limit = "a" * 4094 + "😀"  # 4095 Python characters, 4096 UTF-16 code units
    assert call.ok("sendMessage", chat_id=CHAT, text=at_limit)["text"] == at_limit
    over = "a" * 4095 + "😀"  # 4096 Python characters, 4097 UTF-16 code units
    assert call.error("sendMessage", chat_id=CHAT, text=over) == "Bad Request: message is too long"


def test_length_counts_text_after_entity_parsing(call: Caller) -> None:
    assert call.ok("sendMessage", chat_id=CHAT, text=f"<b>{'&lt;' * 4096}</b>", parse_mode="HTML")
    description = call.error("sendMessage", chat_id=CHAT, text=f"<b>{'x' * 4097}</b>", parse_mode="HTML")
    assert description == "Bad Request: message is too long"


@pytest.mark.parametrize("text", ["", "   \n ", "<b></b>", "<i> </i>"])
def test_text_that_is_empty_after_parsing_is_rejected(call: Caller, text: str) -> None:
    assert call.error("sendMessage", chat_id=CHAT, text=text, parse_mode="HTML") == \
        "Bad Request: message text is empty"


def test_surrounding_whitespace_is_trimmed_like_telegram(call: Caller) -> None:
    message = call.ok("sendMessage", chat_id=CHAT, text="  <b> hi </b>\n", parse_mode="HTML")
    assert (message["text"], message["entities"]) == ("hi", [{"type": "bold", "offset": 0, "length": 2}])


# -- messages, edits, chats, replies ------------------------------------------------------------

def test_sent_message_shape(call: Caller, api: BotApiServer) -> None:
    first = call.ok("sendMessage", chat_id=CHAT, text="one", reply_markup=keyboard(
        {"text": "More", "callback_data": "more"}))
    second = call.ok("sendMessage", chat_id=CHAT, text="two")
    assert first["from"]["username"] == "articlebot_test_bot" and first["from"]["is_bot"]
    assert first["chat"]["id"] == CHAT and first["chat"]["type"] == "private"
    assert isinstance(first["date"], int)
    assert first["reply_markup"] == keyboard({"text": "More", "callback_data": "more"})
    assert second["message_id"] == first["message_id"] + 1
    assert [message["text"] for message in api.sent_messages(CHAT)] == ["one", "two"]


def test_unknown_chat_is_not_found(call: Caller) -> None:
    assert call.error("sendMessage", chat_id=777, text="hi") == "Bad Request: chat not found"


def test_reply_to_unknown_message_needs_allow_sending_without_reply(call: Caller, api: BotApiServer) -> None:
    _, question = api.send_text(CHAT, "question")
    answer = call.ok("sendMessage", chat_id=CHAT, text="a",
                     reply_parameters={"message_id": question["message_id"]})
    assert answer["reply_to_message"]["text"] == "question"
    assert call.error("sendMessage", chat_id=CHAT, text="a", reply_parameters={"message_id": 999}) == \
        "Bad Request: message to be replied not found"
    assert call.ok("sendMessage", chat_id=CHAT, text="a", reply_to_message_id=999,
                   allow_sending_without_reply=True)


def test_edit_changes_text_and_identical_edit_is_not_modified(call: Caller, api: BotApiServer) -> None:
    sent = call.ok("sendMessage", chat_id=CHAT, text="draft")
    edited = call.ok("editMessageText", chat_id=CHAT, message_id=sent["message_id"], text="<b>final</b>",
                     parse_mode="HTML")
    assert (edited["text"], edited["message_id"]) == ("final", sent["message_id"]) and "edit_date" in edited
    description = call.error("editMessageText", chat_id=CHAT, message_id=sent["message_id"],
                             text="<b>final</b>", parse_mode="HTML")
    assert description.startswith("Bad Request: message is not modified: ")
    # the same text without the bold entity is a modification
    assert call.ok("editMessageText", chat_id=CHAT, message_id=sent["message_id"], text="final")
    assert [m["text"] for m in api.sent_messages(CHAT)] == ["draft", "final", "final"]


def test_edit_without_reply_markup_removes_the_keyboard(call: Caller, api: BotApiServer) -> None:
    sent = call.ok("sendMessage", chat_id=CHAT, text="q", reply_markup=A_BUTTON)
    edited = call.ok("editMessageText", chat_id=CHAT, message_id=sent["message_id"], text="q2")
    assert "reply_markup" not in edited
    assert "reply_markup" not in (api.current_message(CHAT, sent["message_id"]) or {})


def test_edit_reply_markup_delete_and_missing_messages(call: Caller, api: BotApiServer) -> None:
    sent = call.ok("sendMessage", chat_id=CHAT, text="q")
    markup = keyboard({"text": "A", "callback_data": "a"})
    assert call.ok("editMessageReplyMarkup", chat_id=CHAT, message_id=sent["message_id"],
                   reply_markup=markup)["reply_markup"] == markup
    assert call.error("editMessageReplyMarkup", chat_id=CHAT, message_id=sent["message_id"],
                      reply_markup=markup).startswith("Bad Request: message is not modified")
    assert call.error("editMessageText", chat_id=CHAT, message_id=1, text="x") == \
        "Bad Request: message can't be edited"  # message 1 is the user's /start
    assert call.ok("deleteMessage", chat_id=CHAT, message_id=sent["message_id"]) is True
    assert call.error("deleteMessage", chat_id=CHAT, message_id=sent["message_id"]) == \
        "Bad Request: message to delete not found"
    assert call.error("editMessageText", chat_id=CHAT, message_id=sent["message_id"], text="x") == \
        "Bad Request: message to edit not found"


# -- inline keyboards ---------------------------------------------------------------------------

def test_callback_data_may_be_64_bytes_but_not_65(call: Caller) -> None:
    assert call.ok("sendMessage", chat_id=CHAT, text="x",
                   reply_markup=keyboard({"text": "b", "callback_data": "é" * 32}))
    for data in ("é" * 32 + "a", ""):
        assert call.error("sendMessage", chat_id=CHAT, text="x", reply_markup=keyboard(
            {"text": "b", "callback_data": data})) == "Bad Request: BUTTON_DATA_INVALID"


@pytest.mark.parametrize(("button", "description"), [
    ({"text": "b", "url": "https://example.com"}, None),
    ({"text": "b", "url": "tg://resolve?domain=x"}, None),
    ({"text": "b", "switch_inline_query_current_chat": ""}, None),
    ({"text": "b", "url": "javascript:alert(1)"}, "Bad Request: BUTTON_URL_INVALID"),
    ({"text": "b", "url": "example.com"}, "Bad Request: BUTTON_URL_INVALID"),
    ({"text": "b"}, "Bad Request: can't parse inline keyboard button: Text buttons are unallowed"),
    ({"text": "b", "url": "https://e.com", "callback_data": "x"}, "exactly one of the optional fields"),
])
def test_inline_buttons_need_exactly_one_valid_action(
        call: Caller, button: dict[str, Any], description: str | None) -> None:
    status, body = call("sendMessage", chat_id=CHAT, text="x", reply_markup=keyboard(button))
    if description is None:
        assert status == 200, body
    else:
        assert status == 400 and description in body["description"]


# -- callback and inline queries ----------------------------------------------------------------

def test_callback_query_is_answered_once(call: Caller, api: BotApiServer) -> None:
    sent = call.ok("sendMessage", chat_id=CHAT, text="q", reply_markup=A_BUTTON)
    query_id = api.press(sent, "a")
    update = call.ok("getUpdates")[-1]
    assert update["callback_query"]["id"] == query_id and update["callback_query"]["data"] == "a"
    assert update["callback_query"]["message"]["message_id"] == sent["message_id"]
    assert call.error("answerCallbackQuery", callback_query_id=query_id, text="x" * 201) == \
        "Bad Request: MESSAGE_TOO_LONG"
    assert call.ok("answerCallbackQuery", callback_query_id=query_id, text="x" * 200) is True
    too_old = "Bad Request: query is too old and response timeout expired or query ID is invalid"
    assert call.error("answerCallbackQuery", callback_query_id=query_id) == too_old
    assert call.error("answerCallbackQuery", callback_query_id="12345") == too_old


def test_press_only_accepts_buttons_the_message_has(call: Caller, api: BotApiServer) -> None:
    sent = call.ok("sendMessage", chat_id=CHAT, text="q", reply_markup=A_BUTTON)
    with pytest.raises(ValueError, match="no button"):
        api.press(sent, "b")


def article(result_id: str, text: str = "answer", **content: Any) -> dict[str, Any]:
    return {"type": "article", "id": result_id, "title": "t",
            "input_message_content": {"message_text": text, **content}}


def test_inline_query_limits(call: Caller, api: BotApiServer) -> None:
    def answer(results: list[dict[str, Any]]) -> tuple[int, Any]:
        return call("answerInlineQuery", inline_query_id=api.inline_query(7, "q"), results=results)

    assert answer([article(str(n)) for n in range(50)])[0] == 200
    cases = [([article(str(n)) for n in range(51)], "Bad Request: RESULTS_TOO_MUCH"),
             ([article("x" * 65)], "Bad Request: RESULT_ID_INVALID"),
             ([article("")], "Bad Request: RESULT_ID_INVALID"),
             ([article("1"), article("1")], "Bad Request: RESULT_ID_DUPLICATE"),
             ([article("1", "a < b", parse_mode="HTML")], "Bad Request: can't parse entities"),
             ([article("1", "x" * 4097)], "Bad Request: message is too long")]
    for results, description in cases:
        status, body = answer(results)
        assert status == 400 and body["description"].startswith(description)
    assert answer([article("x" * 64)])[0] == 200


def test_inline_query_is_answered_once(call: Caller, api: BotApiServer) -> None:
    query_id = api.inline_query(7, "fastapi", offset="")
    update = call.ok("getUpdates")[-1]["inline_query"]
    assert (update["id"], update["query"], update["from"]["id"]) == (query_id, "fastapi", 7)
    assert call.ok("answerInlineQuery", inline_query_id=query_id, results=[article("1")]) is True
    assert call.error("answerInlineQuery", inline_query_id=query_id, results=[]).startswith(
        "Bad Request: query is too old")


# -- incoming updates ---------------------------------------------------------------------------

def test_user_messages_get_command_and_mention_entities(api: BotApiServer) -> None:
    _, message = api.send_text(-100, "/ask@articlebot_test_bot what is 😀 @articlebot_test_bot",
                               chat_type="supergroup", user_id=5, username="alice")
    assert message["chat"]["type"] == "supergroup" and message["from"]["username"] == "alice"
    assert message["entities"] == [{"type": "bot_command", "offset": 0, "length": 24},
                                   {"type": "mention", "offset": 36, "length": 20}]
    with pytest.raises(ValueError):
        api.send_text(-5, "private chats have positive ids")


def test_get_updates_honours_offset_and_limit(call: Caller, api: BotApiServer) -> None:
    first = call.ok("getUpdates")[0]["update_id"]
    second, _ = api.send_text(CHAT, "two")
    third, _ = api.send_photo(CHAT, caption="three")
    api.send_sticker(CHAT)
    assert [u["update_id"] for u in call.ok("getUpdates", limit=2)] == [first, second]
    assert call.ok("getUpdates", offset=third)[0]["update_id"] == third
    assert call.ok("getUpdates")[0]["update_id"] == third  # those below the offset are gone for good
    assert call.ok("getUpdates", offset=-1)[0]["message"]["sticker"]["emoji"] == "👍"
    assert call.ok("getUpdates", offset=third + 2) == []


def test_long_poll_returns_as_soon_as_an_update_is_queued(call: Caller, api: BotApiServer) -> None:
    offset = call.ok("getUpdates")[-1]["update_id"] + 1
    threading.Timer(0.3, api.send_text, args=(CHAT, "late")).start()
    started = time.monotonic()
    updates = call.ok("getUpdates", offset=offset, timeout=5)
    assert updates[0]["message"]["text"] == "late" and 0.2 < time.monotonic() - started < 2


def test_long_poll_times_out_with_no_updates(call: Caller) -> None:
    offset = call.ok("getUpdates")[-1]["update_id"] + 1
    started = time.monotonic()
    assert call.ok("getUpdates", offset=offset, timeout=1) == []
    assert 0.9 < time.monotonic() - started < 3


def test_close_ends_long_polls_in_flight(client: httpx.Client) -> None:
    api = BotApiServer(token=TOKEN)
    result: list[Any] = []
    poller = threading.Thread(target=lambda: result.append(
        client.post(f"{api.base_url}{TOKEN}/getUpdates", json={"timeout": 30}).json()))
    poller.start()
    time.sleep(0.2)
    started = time.monotonic()
    api.close()
    poller.join(timeout=5)
    assert result == [{"ok": True, "result": []}] and time.monotonic() - started < 2


def test_webhook_blocks_get_updates_until_deleted(call: Caller) -> None:
    assert call.error("setWebhook", url="http://insecure") == \
        "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
    assert call.ok("setWebhook", url="https://example.com/hook") is True
    assert call.ok("getWebhookInfo")["url"] == "https://example.com/hook"
    assert call("getUpdates")[0] == 409
    assert call.ok("deleteWebhook", drop_pending_updates=True) is True
    assert call.ok("getWebhookInfo") == {"url": "", "has_custom_certificate": False,
                                         "pending_update_count": 0}


# -- other methods, tokens, encodings -----------------------------------------------------------

def test_get_me_and_other_simple_methods(call: Caller) -> None:
    me = call.ok("getMe")
    assert me["username"] == "articlebot_test_bot" and me["id"] == 123456
    assert me["can_join_groups"] and me["supports_inline_queries"]
    assert call.ok("getChat", chat_id=CHAT)["type"] == "private"
    assert call.ok("sendChatAction", chat_id=CHAT, action="typing") is True
    assert call.error("sendChatAction", chat_id=CHAT, action="dancing").startswith("Bad Request")
    assert call.ok("setChatMenuButton", menu_button={"type": "commands"}) is True
    assert call.ok("close") is True and call.ok("logOut") is True


def test_commands_are_stored_per_scope_and_language(call: Caller) -> None:
    english = [{"command": "ask", "description": "Ask a question"}]
    chinese = [{"command": "ask", "description": "提问"}]
    assert call.ok("setMyCommands", commands=english) is True
    assert call.ok("setMyCommands", commands=chinese, language_code="zh") is True
    assert call.ok("setMyCommands", commands=[], scope={"type": "all_group_chats"}) is True
    assert call.ok("getMyCommands") == english
    assert call.ok("getMyCommands", language_code="zh") == chinese
    assert call.ok("deleteMyCommands", language_code="zh") is True
    assert call.ok("getMyCommands", language_code="zh") == []
    assert call.error("setMyCommands", commands=[{"command": "Ask!", "description": "x"}]) == \
        "Bad Request: BOT_COMMAND_INVALID"


def test_wrong_token_is_unauthorized_and_unknown_method_not_found(call: Caller) -> None:
    assert call("getMe", token="654321:other") == (
        401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    assert call("sendTelepathy") == (404, {"ok": False, "error_code": 404, "description": "Not Found"})
    assert call.ok("getme")["is_bot"]  # method names are case-insensitive, as on Telegram


def test_form_and_multipart_bodies_are_decoded(api: BotApiServer, client: httpx.Client) -> None:
    api.send_text(CHAT, "hi")
    url = f"{api.base_url}{TOKEN}/sendMessage"
    markup = json.dumps(keyboard({"text": "A", "callback_data": "a"}))
    form = client.post(url, data={"chat_id": str(CHAT), "text": "123", "reply_markup": markup}).json()
    assert form["result"]["text"] == "123"  # a string field, although it looks like a number
    assert form["result"]["reply_markup"]["inline_keyboard"][0][0]["text"] == "A"
    multipart = client.post(url, data={"chat_id": str(CHAT), "text": "true"},
                            files={"document": ("a.txt", b"hello")}).json()
    assert multipart["result"]["text"] == "true"
    params = api.calls_to("sendMessage")[-1].params
    assert params["chat_id"] == CHAT and params["document"] == {"filename": "a.txt", "size": 5}
    assert api.calls_to("sendMessage")[0].params["reply_markup"] == json.loads(markup)


# -- faults -------------------------------------------------------------------------------------

def test_429_has_retry_after_and_no_effect(call: Caller, api: BotApiServer) -> None:
    api.fail_next("sendMessage", "429", retry_after=7)
    assert call("sendMessage", chat_id=CHAT, text="x") == (429, {
        "ok": False, "error_code": 429, "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7}})
    assert api.sent_messages() == [] and api.error_count(429) == 1
    assert call.ok("sendMessage", chat_id=CHAT, text="x")["text"] == "x"


def test_500_and_502_faults(call: Caller, api: BotApiServer, client: httpx.Client) -> None:
    api.fail_next("sendMessage", "500")
    api.fail_next("sendMessage", "502", times=2)
    assert call("sendMessage", chat_id=CHAT, text="x")[0] == 500
    for _ in range(2):
        response = client.post(f"{api.base_url}{TOKEN}/sendMessage", json={"chat_id": CHAT, "text": "x"})
        assert response.status_code == 502 and "Bad Gateway" in response.text  # nginx's HTML page
    assert api.sent_messages() == [] and (api.error_count(500), api.error_count(502)) == (1, 2)
    assert [c.status for c in api.calls_to("sendMessage")] == [500, 502, 502]


def test_slow_fault_delays_but_delivers(call: Caller, api: BotApiServer) -> None:
    api.fail_next("sendMessage", "slow", delay=0.5)
    started = time.monotonic()
    assert call.ok("sendMessage", chat_id=CHAT, text="x")
    assert time.monotonic() - started >= 0.5 and len(api.sent_messages()) == 1


def test_drop_closes_the_connection_without_answer(call: Caller, api: BotApiServer) -> None:
    api.fail_next("sendMessage", "drop")
    with pytest.raises(httpx.RemoteProtocolError):
        call("sendMessage", chat_id=CHAT, text="x")
    assert api.sent_messages() == [] and api.error_count(0) == 1
    assert call.ok("sendMessage", chat_id=CHAT, text="x")  # the next request is served normally


def test_a_request_cut_off_mid_body_is_not_acted_on(api: BotApiServer) -> None:
    """A client killed while sending leaves a truncated body: Telegram never sees a request, so
    the stand-in must not answer what it can parse of it (a 400 for a missing chat_id)."""
    import socket

    body = f"chat_id={CHAT}&text=hello".encode()
    head = (f"POST /bot{TOKEN}/sendMessage HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body) + 50}\r\n\r\n")
    with socket.create_connection(("127.0.0.1", api.port), timeout=5) as raw:
        raw.sendall(head.encode() + body[:12])
    time.sleep(0.3)
    assert api.calls == [] and api.sent_messages() == []


def test_fault_kind_must_be_known(api: BotApiServer) -> None:
    with pytest.raises(ValueError):
        api.fail_next("sendMessage", "404")


# -- test controls ------------------------------------------------------------------------------

def test_wait_for_counts_successful_calls_and_explains_timeouts(call: Caller, api: BotApiServer) -> None:
    threading.Timer(0.2, lambda: call.ok("sendMessage", chat_id=CHAT, text="later")).start()
    assert api.wait_for(lambda c: c.method == "sendMessage" and c.result["text"] == "later", timeout=5)
    call("sendMessage", chat_id=CHAT, text="")
    with pytest.raises(AssertionError, match=r"sendMessage -> 400 Bad Request: message text is empty"):
        api.wait_for("sendMessage", count=3, timeout=0.3)


def test_logs_go_to_api_log_without_the_token(call: Caller, api: BotApiServer,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    call.ok("getMe")
    api.fail_next("getMe", "drop")
    with pytest.raises(httpx.HTTPError):
        call("getMe")
    captured = capsys.readouterr()
    assert captured.out == captured.err == ""
    assert api.log and not any(TOKEN in line for line in api.log)
    assert any("<token>/getMe" in line for line in api.log)


# -- a real python-telegram-bot client ----------------------------------------------------------

def test_python_telegram_bot_round_trip(api: BotApiServer) -> None:
    from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
    from telegram.constants import ParseMode
    from telegram.error import BadRequest, RetryAfter

    api.send_text(CHAT, "/start")

    async def scenario() -> None:
        async with Bot(TOKEN, base_url=api.base_url, base_file_url=api.base_file_url) as bot:
            assert (await bot.get_me()).username == "articlebot_test_bot"
            markup = InlineKeyboardMarkup([[InlineKeyboardButton("More", callback_data="more"),
                                            InlineKeyboardButton("Source", url="https://example.com")]])
            message = await bot.send_message(CHAT, "<b>Answer</b> &lt;3", parse_mode=ParseMode.HTML,
                                             reply_markup=markup)
            assert message.text == "Answer <3" and message.entities[0].type == "bold"
            assert message.reply_markup == markup and message.from_user and message.from_user.is_bot
            # PTB drops "Bad Request: " and str.capitalize()s the rest, lower-casing "Unsupported"
            with pytest.raises(BadRequest, match='^Can\'t parse entities: unsupported start tag ""'):
                await bot.send_message(CHAT, "a < b", parse_mode=ParseMode.HTML)
            api.fail_next("sendMessage", "429", retry_after=3)
            with pytest.raises(RetryAfter, match=r"Retry in (3 seconds|0:00:03)"), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # PTB 22 deprecates int retry_after (PTB_TIMEDELTA)
                await bot.send_message(CHAT, "flood")

    asyncio.run(scenario())
    sent = api.calls_to("sendMessage")[0]
    assert sent.params["reply_markup"]["inline_keyboard"][0][1]["url"] == "https://example.com"
    assert [m["text"] for m in api.sent_messages(CHAT)] == ["Answer <3"]
