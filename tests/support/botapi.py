"""A local stand-in for the Telegram Bot API server, for end-to-end tests over real HTTP.

The bot under test talks to it exactly as it talks to api.telegram.org (python-telegram-bot
with ``base_url=api.base_url``), so the whole stack - request encoding, HTTP, error mapping,
retries - is exercised.  The server enforces the rules that make real deployments fail
(HTML entity parsing, 4096 UTF-16 code units, button limits, stale query ids, unknown chats)
with Telegram's own error descriptions, so a test that passes here does not fail on Telegram
for those reasons.  Standard library only.

    with BotApiServer() as api:
        api.send_text(42, "/start")
        ...  # run the bot against api.base_url
        api.wait_for("sendMessage")
"""

from __future__ import annotations

import copy
import email.parser
import email.policy
import itertools
import json
import re
import socketserver
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self
from urllib.parse import parse_qs, urlsplit

JsonDict = dict[str, Any]

MAX_TEXT_UTF16 = 4096
MAX_INLINE_RESULTS = 50
MAX_CALLBACK_ANSWER = 200
DEFAULT_GROUP_USER = 1001
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
NOT_MODIFIED = ("message is not modified: specified new message content and reply markup are exactly "
                "the same as a current content and reply markup of the message")
BUTTON_ACTIONS = ("url", "callback_data", "web_app", "login_url", "switch_inline_query",
                  "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text",
                  "callback_game", "pay")
CHAT_ACTIONS = {"typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
                "upload_document", "choose_sticker", "find_location", "record_video_note",
                "upload_video_note"}
# How form/multipart values (always strings on the wire) are typed back; PTB JSON-encodes
# every non-string value, so nested objects such as reply_markup arrive as JSON text.
JSON_FIELDS = {"reply_markup", "reply_parameters", "entities", "caption_entities", "link_preview_options",
               "results", "commands", "scope", "menu_button", "allowed_updates", "button", "media"}
INT_FIELDS = {"message_id", "offset", "limit", "timeout", "cache_time", "user_id", "message_thread_id",
              "reply_to_message_id", "max_connections", "from_chat_id"}
BOOL_FIELDS = {"disable_notification", "protect_content", "allow_sending_without_reply", "show_alert",
               "is_personal", "drop_pending_updates", "disable_web_page_preview"}
_ROUTE = re.compile(r"^/(file/)?bot([^/]+)/(.+)$")
_INTEGER = re.compile(r"^-?\d+$")
_ENTITY = re.compile(r"&(?:#x([0-9a-fA-F]{1,8})|#([0-9]{1,8})|([a-zA-Z]+))(;?)")
_COMMAND = re.compile(r"^/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?")
_MENTION = re.compile(r"(?<![\w@/])@[A-Za-z]\w{3,31}\b")
_BUTTON_URL = re.compile(r"^(https?|tg)://\S+$", re.IGNORECASE)
_BOT_COMMAND = re.compile(r"^[a-z0-9_]{1,32}$")
_NAME_TOKEN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")


class ApiError(Exception):
    """An error answer of the Bot API; raised anywhere below a method, turned into the JSON body."""

    def __init__(self, code: int, description: str, parameters: JsonDict | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters

    def body(self) -> JsonDict:
        """The body Telegram sends: ``ok`` false, the code again, and optional parameters."""
        body: JsonDict = {"ok": False, "error_code": self.code, "description": self.description}
        return body | ({"parameters": self.parameters} if self.parameters else {})


def bad_request(what: str) -> ApiError:
    """A 400 with the "Bad Request: " prefix every Telegram 400 description carries."""
    return ApiError(400, f"Bad Request: {what}")


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (limits and entity offsets are in UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


@dataclass
class _OpenTag:
    name: str
    argument: str
    offset: int  # UTF-16 offset where the entity starts
    start: int  # index into the output characters, to recover an href-less <a>'s text


class TelegramHtml:
    """Parses ``parse_mode=HTML`` text the way Telegram does (tdlib's ``parse_html``).

    Telegram does not use an HTML parser: it walks the text, accepts a fixed tag set, and
    answers anything else with "can't parse entities: <reason> at byte offset N".  Mirroring
    that walk (rather than using html.parser, which accepts everything) is what makes a bot's
    escaping bugs show up in tests.  One deliberate difference: Telegram keeps an ``&`` that
    starts no known entity literally, but with ``strict_ampersand`` (the default) it is an
    error here, because it means the bot forgot ``html.escape`` and the next ``<`` will break.
    """

    TAGS: ClassVar[dict[str, str]] = {
        "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline", "ins": "underline",
        "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough", "span": "spoiler",
        "tg-spoiler": "spoiler", "a": "text_link", "code": "code", "pre": "pre", "blockquote": "blockquote",
        "tg-emoji": "custom_emoji"}
    NAMED: ClassVar[dict[str, str]] = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
    UNNESTABLE = ("a", "blockquote")

    def __init__(self, text: str, *, strict_ampersand: bool = True) -> None:
        self.text, self.strict = text, strict_ampersand
        self.out: list[str] = []
        self.utf16 = 0
        self.open: list[_OpenTag] = []
        self.entities: list[JsonDict] = []

    def parse(self) -> tuple[str, list[JsonDict]]:
        """Plain text and its entities (UTF-16 offsets, sorted as Telegram returns them)."""
        i = 0
        while i < len(self.text):
            char = self.text[i]
            if char == "&":
                decoded, end = self._entity(i)
                if decoded is not None:
                    self._emit(decoded)
                    i = end
                    continue
                if self.strict:
                    raise self._error(f'Unescaped "&" at byte offset {self._byte(i)}')
            if char != "<":
                self._emit(char)
                i += 1
            else:
                i = self._end_tag(i) if self._at(i + 1) == "/" else self._start_tag(i)
        if self.open:
            raise self._error(f'Can\'t find end tag corresponding to start tag "{self.open[-1].name}"')
        for entity in self.entities:
            if entity["type"] == "code":
                entity.pop("language", None)
        return "".join(self.out), sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))

    def _at(self, i: int) -> str:
        """The character at i, or NUL past the end (tdlib reads a NUL-terminated string)."""
        return self.text[i] if i < len(self.text) else "\0"

    def _space(self, i: int) -> bool:
        return self._at(i) in " \t\r\n\v\0"

    def _skip_spaces(self, i: int) -> int:
        while i < len(self.text) and self._space(i):
            i += 1
        return i

    def _byte(self, i: int) -> int:
        return len(self.text[:i].encode())

    @staticmethod
    def _error(reason: str) -> ApiError:
        return bad_request(f"can't parse entities: {reason}")

    def _emit(self, chars: str) -> None:
        self.out.append(chars)
        self.utf16 += utf16_len(chars)

    def _entity(self, i: int) -> tuple[str | None, int]:
        """Decode ``&lt;``/``&gt;``/``&amp;``/``&quot;``/``&#N;``/``&#xN;`` at i; None if it is none."""
        match = _ENTITY.match(self.text, i)
        if not match or (self.strict and not match.group(4)):
            return None, i
        hexa, decimal, name = match.group(1, 2, 3)
        if name is not None:
            return (self.NAMED.get(name), match.end()) if name in self.NAMED else (None, i)
        code = int(hexa, 16) if hexa is not None else int(decimal)
        if code == 0 or code >= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            return None, i
        return chr(code), match.end()

    def _start_tag(self, begin: int) -> int:
        i = begin + 1
        while not self._space(i) and self._at(i) != ">":
            i += 1
        if i >= len(self.text):
            raise self._error(f"Unclosed start tag at byte offset {self._byte(begin)}")
        name = self.text[begin + 1:i].lower()
        if name not in self.TAGS:
            raise self._error(f'Unsupported start tag "{name}" at byte offset {self._byte(begin)}')
        if name in self.UNNESTABLE and any(tag.name == name for tag in self.open):
            raise self._error(f'Tag "{name}" can\'t be nested in another "{name}" at byte offset '
                              f"{self._byte(begin)}")
        argument, i = self._attributes(name, begin, i)
        if name == "span" and argument != "spoiler":
            raise self._error(f'Tag "span" must have class "tg-spoiler" at byte offset {self._byte(begin)}')
        self.open.append(_OpenTag(name, argument, self.utf16, len(self.out)))
        return i + 1

    def _attributes(self, tag: str, begin: int, i: int) -> tuple[str, int]:
        """Reads attributes up to ``>``; returns the one that matters for the tag and the ``>`` index."""
        argument = ""
        while self._at(i) != ">":
            i = self._skip_spaces(i)
            if self._at(i) == ">":
                break
            name_start = i
            while not self._space(i) and self._at(i) not in "=>":
                i += 1
            name = self.text[name_start:i]
            if not name:
                raise self._error(f'Empty attribute name in the tag "{tag}" at byte offset '
                                  f"{self._byte(begin)}")
            i = self._skip_spaces(i)
            if self._at(i) != "=":
                if tag == "blockquote" and name == "expandable":
                    argument = "1"
                    continue
                raise self._error(f'Expected equal sign in declaration of an attribute of the tag "{tag}" '
                                  f"at byte offset {self._byte(begin)}")
            value, i = self._attribute_value(tag, begin, i + 1)
            argument = self._argument(tag, name, value) or argument
        return argument, i

    def _attribute_value(self, tag: str, begin: int, i: int) -> tuple[str, int]:
        i = self._skip_spaces(i)
        if i >= len(self.text):
            raise self._error(f'Unclosed start tag "{tag}" at byte offset {self._byte(begin)}')
        quote = self._at(i)
        if quote not in "'\"":
            start = i
            while self._at(i) in _NAME_TOKEN:
                i += 1
            if not self._space(i) and self._at(i) != ">":
                raise self._error(f"Unexpected end of name token at byte offset {self._byte(start)}")
            return self.text[start:i].lower(), i
        value: list[str] = []
        i += 1
        while i < len(self.text) and self.text[i] != quote:
            decoded, end = self._entity(i) if self.text[i] == "&" else (None, i)
            value.append(decoded if decoded is not None else self.text[i])
            i = end if decoded is not None else i + 1
        if i >= len(self.text):
            raise self._error(f"Unclosed start tag at byte offset {self._byte(begin)}")
        return "".join(value), i + 1

    @staticmethod
    def _argument(tag: str, attribute: str, value: str) -> str:
        if (tag, attribute) in (("a", "href"), ("tg-emoji", "emoji-id")):
            return value
        if tag == "code" and attribute == "class" and value.startswith("language-"):
            return value[len("language-"):]
        if tag == "span" and attribute == "class" and value.startswith("tg-"):
            return value[len("tg-"):]
        return ""

    def _end_tag(self, begin: int) -> int:
        if not self.open:
            raise self._error(f"Unexpected end tag at byte offset {self._byte(begin)}")
        i = begin + 2
        while not self._space(i) and self._at(i) != ">":
            i += 1
        end_name = self.text[begin + 2:i]
        i = self._skip_spaces(i)
        if self._at(i) != ">":
            raise self._error(f"Unclosed end tag at byte offset {self._byte(begin)}")
        tag = self.open.pop()
        if end_name and end_name != tag.name:
            raise self._error(f"Unmatched end tag at byte offset {self._byte(begin)}, "
                              f'expected "</{tag.name}>", found "</{end_name}>"')
        if self.utf16 > tag.offset:
            self._close_entity(tag)
        return i + 1

    def _close_entity(self, tag: _OpenTag) -> None:
        """Adds the entity for a closed tag; ``<pre><code class="language-x">`` becomes one pre."""
        length = self.utf16 - tag.offset
        entity: JsonDict = {"type": self.TAGS[tag.name], "offset": tag.offset, "length": length}
        last = self.entities[-1] if self.entities else None
        same_span = last is not None and (last["offset"], last["length"]) == (tag.offset, length)
        if tag.name == "a":
            url = (tag.argument or "".join(self.out[tag.start:])).strip()
            if not url or any(char.isspace() for char in url):
                return  # Telegram drops links to invalid URLs instead of failing
            has_scheme = re.match(r"^[a-z][a-z0-9+.-]*:", url, re.IGNORECASE)
            entity["url"] = url if has_scheme else f"http://{url}"
        elif tag.name == "tg-emoji":
            if not tag.argument.isdigit() or int(tag.argument) == 0:
                raise self._error("Invalid custom emoji identifier specified")
            entity["custom_emoji_id"] = tag.argument
        elif tag.name == "blockquote" and tag.argument:
            entity["type"] = "expandable_blockquote"
        elif tag.name == "code" and tag.argument:
            if same_span and last is not None and last["type"] == "pre":
                last["language"] = tag.argument
                return
            entity["language"] = tag.argument
        elif tag.name == "pre" and same_span and last is not None and last["type"] == "code" \
                and last.get("language"):
            last["type"] = "pre"
            return
        self.entities.append(entity)


def trim(text: str, entities: list[JsonDict]) -> tuple[str, list[JsonDict]]:
    """Telegram strips surrounding whitespace from message texts; entities are clipped to match."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    lead = utf16_len(text[:len(text) - len(text.lstrip())])
    size = utf16_len(stripped)
    kept = []
    for entity in entities:
        start, end = max(entity["offset"] - lead, 0), min(entity["offset"] + entity["length"] - lead, size)
        if end > start:
            kept.append(entity | {"offset": start, "length": end - start})
    return stripped, kept


def render_text(text: Any, parse_mode: Any, entities: Any, *,
                strict_ampersand: bool) -> tuple[str, list[JsonDict]]:
    """What Telegram stores for text + parse_mode, after the empty and 4096-UTF-16 checks."""
    mode = str(parse_mode or "").lower()
    raw = "" if text is None else str(text)
    if mode == "html":
        plain, found = TelegramHtml(raw, strict_ampersand=strict_ampersand).parse()
    elif mode:
        raise bad_request(f"unsupported parse_mode {parse_mode!r} (this stand-in parses only HTML)")
    else:
        if not isinstance(entities or [], list) or not all(isinstance(e, dict) for e in entities or []):
            raise bad_request("can't parse entities JSON object")
        plain, found = raw, [dict(e) for e in entities or []]
    plain, found = trim(plain, found)
    if not plain:
        raise bad_request("message text is empty")
    if utf16_len(plain) > MAX_TEXT_UTF16:
        raise bad_request("message is too long")
    return plain, found


def check_reply_markup(markup: Any, *, inline_only: bool = False) -> None:
    """Rejects keyboards Telegram rejects; only inline keyboards are checked button by button."""
    if markup is None:
        return
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" not in markup:
        if inline_only or not {"keyboard", "remove_keyboard", "force_reply"} & markup.keys():
            raise bad_request("can't parse inline keyboard markup JSON object")
        return
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request('Field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays')
    for button in itertools.chain.from_iterable(rows):
        check_inline_button(button)


def check_inline_button(button: Any) -> None:
    """Exactly one action, callback_data of 1-64 UTF-8 bytes, and an http(s)/tg URL."""
    prefix = "can't parse inline keyboard button: "
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise bad_request(prefix + 'Field "text" must be of type String')
    actions = [name for name in BUTTON_ACTIONS if name in button]
    if not actions:
        raise bad_request(prefix + "Text buttons are unallowed in the inline keyboard")
    if len(actions) > 1:
        raise bad_request(prefix + f"exactly one of the optional fields must be used, got {actions}")
    data = button.get("callback_data")
    if "callback_data" in button and not (isinstance(data, str) and 1 <= len(data.encode()) <= 64):
        raise bad_request("BUTTON_DATA_INVALID")
    if "url" in button and not (isinstance(button["url"], str) and _BUTTON_URL.match(button["url"])):
        raise bad_request("BUTTON_URL_INVALID")


def decode_params(content_type: str, body: bytes, query: str) -> JsonDict:
    """Request parameters from the query string and a JSON, urlencoded or multipart body."""
    raw: dict[str, Any] = {key: values[-1] for key, values in parse_qs(query).items()}
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/json" and body.strip():
        try:
            data = json.loads(body)
        except ValueError:
            raise bad_request("can't parse JSON object") from None
        if not isinstance(data, dict):
            raise bad_request("JSON object expected")
        raw |= data
    elif kind == "application/x-www-form-urlencoded":
        raw |= {key: values[-1] for key, values in parse_qs(body.decode(), keep_blank_values=True).items()}
    elif kind == "multipart/form-data":
        raw |= _multipart(content_type, body)
    return {key: _typed(key, value) for key, value in raw.items()}


def _multipart(content_type: str, body: bytes) -> JsonDict:
    """Form fields as text; uploaded files as ``{"filename", "size"}`` (tests rarely need bytes)."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: JsonDict = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        payload = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        fields[name] = {"filename": filename, "size": len(payload)} if filename else payload.decode()
    return fields


def _typed(key: str, value: Any) -> Any:
    """Types a string value by field name (the real API also accepts "42" for 42 in JSON bodies)."""
    if not isinstance(value, str):
        return value
    if key in JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request(f"can't parse {key} JSON object") from None
    if (key in INT_FIELDS or key == "chat_id") and _INTEGER.match(value):
        return int(value)
    if key in BOOL_FIELDS and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


@dataclass(frozen=True)
class Call:
    """One request the server answered (or dropped): what came in and what went out."""

    method: str
    params: JsonDict
    status: int  # HTTP status; 0 when the connection was dropped without an answer
    response: Any  # the JSON body, the text of an HTML error page, or None when dropped
    time: float  # time.time() when the request arrived

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def result(self) -> Any:
        return self.response["result"] if self.ok else None


@dataclass
class Fault:
    kind: str  # "429", "500", "502", "slow" or "drop"
    retry_after: int = 1
    delay: float = 2.0


class BotState:
    """Chats, messages, the update queue and the call log, behind one condition variable.

    Every ``api_*`` method implements the Bot API method of the same name without
    underscores (``api_send_message`` -> ``sendMessage``, matched case-insensitively as
    Telegram does); each runs with the condition held and returns the ``result`` value.
    """

    def __init__(self, token: str, bot_username: str, strict_ampersand: bool) -> None:
        self.cond = threading.Condition()
        self.closing = False
        self.strict = strict_ampersand
        bot_id = int(token.split(":")[0]) if token.split(":")[0].isdigit() else 123456
        self.bot: JsonDict = {"id": bot_id, "is_bot": True, "first_name": "Articlebot Test",
                              "username": bot_username}
        self.calls: list[Call] = []
        self.updates: list[JsonDict] = []
        self.allowed_updates: list[str] | None = None
        self.chats: dict[int, JsonDict] = {}
        self.users: dict[int, JsonDict] = {}
        self.messages: dict[tuple[Any, Any], JsonDict] = {}  # by (chat id, message id)
        self.message_ids: dict[int, itertools.count[int]] = {}
        self.update_ids = itertools.count(1)
        self.query_ids = itertools.count(4_000_000_000_001)
        self.open_queries: set[str] = set()  # callback and inline query ids not answered yet
        self.commands: dict[tuple[str, str], list[JsonDict]] = {}
        self.menu_buttons: dict[Any, JsonDict] = {}
        self.webhook_url = ""
        self.admins: dict[int, list[int]] = {}  # group chat id -> its administrators' user ids
        self.blocked: dict[int, str] = {}  # chat id -> the 403 description sends there get
        self.methods = {name[4:].replace("_", ""): getattr(self, name) for name in dir(self)
                        if name.startswith("api_")}

    # -- bookkeeping used by the test controls and the handler ---------------------------------

    def call(self, method: str, params: JsonDict) -> Any:
        implementation = self.methods.get(method.lower())
        if implementation is None:
            raise ApiError(404, "Not Found")
        with self.cond:
            return implementation(params)

    def record(self, call: Call) -> None:
        with self.cond:
            self.calls.append(call)
            self.cond.notify_all()

    def queue(self, kind: str, payload: JsonDict) -> int:
        with self.cond:
            update_id = next(self.update_ids)
            self.updates.append({"update_id": update_id, kind: payload})
            self.cond.notify_all()
            return update_id

    def user(self, user_id: int, **profile: Any) -> JsonDict:
        """The user with that id, created on first sight; given fields update the profile."""
        user = self.users.setdefault(user_id, {"id": user_id, "is_bot": False, "first_name": "Tester"})
        user.update({key: value for key, value in profile.items() if value is not None})
        return copy.deepcopy(user)

    def chat_for(self, chat_id: int, chat_type: str, user: JsonDict) -> JsonDict:
        if chat_id not in self.chats:
            chat: JsonDict = {"id": chat_id, "type": chat_type}
            if chat_type == "private":
                chat |= {k: user[k] for k in ("first_name", "username") if k in user}
            else:
                chat["title"] = f"Test {chat_type} {chat_id}"
            self.chats[chat_id] = chat
        return self.chats[chat_id]

    def new_message(self, chat: JsonDict, sender: JsonDict, **content: Any) -> JsonDict:
        ids = self.message_ids.setdefault(chat["id"], itertools.count(1))
        message: JsonDict = {"message_id": next(ids), "from": sender, "chat": dict(chat),
                             "date": int(time.time())}
        message |= {key: value for key, value in content.items() if value not in (None, [])}
        self.messages[chat["id"], message["message_id"]] = message
        return message

    def message(self, chat_id: Any, message_id: Any) -> JsonDict | None:
        return self.messages.get((chat_id, message_id))

    # -- Bot API methods ----------------------------------------------------------------------

    def _chat(self, chat_id: Any) -> JsonDict:
        """Telegram only knows chats that wrote to the bot (or "@username" of one of them)."""
        if isinstance(chat_id, str) and _INTEGER.match(chat_id):
            chat_id = int(chat_id)
        for chat in self.chats.values():
            if chat["id"] == chat_id or (isinstance(chat_id, str) and chat_id.startswith("@")
                                         and chat.get("username") == chat_id[1:]):
                return chat
        raise bad_request("chat not found")

    def _reply_target(self, chat: JsonDict, params: JsonDict) -> JsonDict | None:
        reply = params.get("reply_parameters")
        if reply is None and params.get("reply_to_message_id") is not None:
            reply = {"message_id": params["reply_to_message_id"],
                     "allow_sending_without_reply": params.get("allow_sending_without_reply")}
        if not reply:
            return None
        target = self.message(reply.get("chat_id", chat["id"]), reply.get("message_id"))
        if target is None and not reply.get("allow_sending_without_reply"):
            raise bad_request("message to be replied not found")
        return {k: v for k, v in target.items() if k != "reply_to_message"} if target else None

    def _render(self, text: Any, params: JsonDict) -> tuple[str, list[JsonDict]]:
        return render_text(text, params.get("parse_mode"), params.get("entities"),
                           strict_ampersand=self.strict)

    def _editable(self, params: JsonDict) -> JsonDict:
        message = self.message(self._chat(params.get("chat_id"))["id"], params.get("message_id"))
        if message is None:
            raise bad_request("message to edit not found")
        if message["from"]["id"] != self.bot["id"]:
            raise bad_request("message can't be edited")
        return message

    def _store_edit(self, old: JsonDict, **changes: Any) -> JsonDict:
        new = {k: v for k, v in (old | changes).items() if v not in (None, []) and k != "edit_date"}
        if new == {k: v for k, v in old.items() if k != "edit_date"}:
            raise bad_request(NOT_MODIFIED)
        new["edit_date"] = int(time.time())
        self.messages[old["chat"]["id"], old["message_id"]] = new
        return copy.deepcopy(new)

    @staticmethod
    def _inline_markup(params: JsonDict) -> JsonDict | None:
        markup = params.get("reply_markup")
        return markup if isinstance(markup, dict) and "inline_keyboard" in markup else None

    def api_get_me(self, params: JsonDict) -> JsonDict:
        return self.bot | {"can_join_groups": True, "can_read_all_group_messages": False,
                           "supports_inline_queries": True, "can_connect_to_business": False,
                           "has_main_web_app": False}

    def api_get_updates(self, params: JsonDict) -> list[JsonDict]:
        """Confirms updates below ``offset``, then long-polls up to ``timeout`` seconds for one."""
        if self.webhook_url:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        offset = int(params.get("offset") or 0)
        if offset > 0:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        elif offset < 0:
            self.updates = self.updates[offset:]
        if "allowed_updates" in params:
            self.allowed_updates = list(params["allowed_updates"] or []) or None
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        while True:
            if self.allowed_updates is not None:
                allowed = set(self.allowed_updates) | {"update_id"}
                self.updates = [update for update in self.updates if set(update) <= allowed]
            remaining = deadline - time.monotonic()
            if self.updates or self.closing or remaining <= 0:
                break
            self.cond.wait(remaining)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        return copy.deepcopy(self.updates[:limit])

    def api_set_webhook(self, params: JsonDict) -> bool:
        url = str(params.get("url") or "")
        if url and not url.lower().startswith("https://"):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        self.webhook_url = url
        if params.get("drop_pending_updates"):
            self.updates.clear()
        return True

    def api_delete_webhook(self, params: JsonDict) -> bool:
        return self.api_set_webhook({"drop_pending_updates": params.get("drop_pending_updates")})

    def api_get_webhook_info(self, params: JsonDict) -> JsonDict:
        return {"url": self.webhook_url, "has_custom_certificate": False,
                "pending_update_count": len(self.updates)}

    @staticmethod
    def _commands_key(params: JsonDict) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    def api_set_my_commands(self, params: JsonDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise bad_request("can't parse commands JSON object")
        for command in commands:
            if not isinstance(command, dict) or not _BOT_COMMAND.match(str(command.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description") or "")) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._commands_key(params)] = copy.deepcopy(commands)
        return True

    def api_get_my_commands(self, params: JsonDict) -> list[JsonDict]:
        return copy.deepcopy(self.commands.get(self._commands_key(params), []))

    def api_delete_my_commands(self, params: JsonDict) -> bool:
        self.commands.pop(self._commands_key(params), None)
        return True

    def _reachable(self, chat: JsonDict) -> None:
        """A chat that blocked the bot (or removed it) answers every send with Telegram's 403."""
        if chat["id"] in self.blocked:
            raise ApiError(403, self.blocked[chat["id"]])

    def api_send_message(self, params: JsonDict) -> JsonDict:
        chat = self._chat(params.get("chat_id"))
        self._reachable(chat)
        check_reply_markup(params.get("reply_markup"))
        text, entities = self._render(params.get("text"), params)
        reply_to = self._reply_target(chat, params)
        message = self.new_message(chat, dict(self.bot), text=text, entities=entities,
                                   reply_to_message=reply_to, reply_markup=self._inline_markup(params),
                                   message_thread_id=params.get("message_thread_id"))
        return copy.deepcopy(message)

    def api_edit_message_text(self, params: JsonDict) -> JsonDict | bool:
        """Like Telegram, an edit without reply_markup removes the message's inline keyboard."""
        check_reply_markup(params.get("reply_markup"), inline_only=True)
        text, entities = self._render(params.get("text"), params)
        if params.get("inline_message_id"):
            return True
        message = self._editable(params)
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
        return self._store_edit(message, text=text, entities=entities,
                                reply_markup=self._inline_markup(params))

    def api_edit_message_reply_markup(self, params: JsonDict) -> JsonDict | bool:
        check_reply_markup(params.get("reply_markup"), inline_only=True)
        if params.get("inline_message_id"):
            return True
        return self._store_edit(self._editable(params), reply_markup=self._inline_markup(params))

    def api_delete_message(self, params: JsonDict) -> bool:
        chat = self._chat(params.get("chat_id"))
        if self.messages.pop((chat["id"], params.get("message_id")), None) is None:
            raise bad_request("message to delete not found")
        return True

    def _answer_query(self, query_id: Any) -> None:
        if str(query_id) not in self.open_queries:
            raise bad_request(QUERY_TOO_OLD)
        self.open_queries.discard(str(query_id))

    def api_answer_callback_query(self, params: JsonDict) -> bool:
        if len(str(params.get("text") or "")) > MAX_CALLBACK_ANSWER:
            raise bad_request("MESSAGE_TOO_LONG")
        self._answer_query(params.get("callback_query_id"))
        return True

    def api_answer_inline_query(self, params: JsonDict) -> bool:
        """Checks the results as Telegram does before it looks at the query id."""
        results = params.get("results")
        if not isinstance(results, list):
            raise bad_request("can't parse results JSON object")
        if len(results) > MAX_INLINE_RESULTS:
            raise bad_request("RESULTS_TOO_MUCH")
        seen: set[str] = set()
        for result in results:
            result_id = result.get("id") if isinstance(result, dict) else None
            if not isinstance(result_id, str) or not 1 <= len(result_id.encode()) <= 64:
                raise bad_request("RESULT_ID_INVALID")
            if result_id in seen:
                raise bad_request("RESULT_ID_DUPLICATE")
            seen.add(result_id)
            content = result.get("input_message_content") or {}
            if "message_text" in content:
                self._render(content["message_text"], content)
            check_reply_markup(result.get("reply_markup"), inline_only=True)
        self._answer_query(params.get("inline_query_id"))
        return True

    def api_send_chat_action(self, params: JsonDict) -> bool:
        self._chat(params.get("chat_id"))
        if params.get("action") not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    def api_set_chat_menu_button(self, params: JsonDict) -> bool:
        self.menu_buttons[params.get("chat_id")] = params.get("menu_button") or {"type": "default"}
        return True

    def api_get_chat(self, params: JsonDict) -> JsonDict:
        gifts = dict.fromkeys(("unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription",
                               "gifts_from_channels"), True)
        return copy.deepcopy(self._chat(params.get("chat_id"))) | {
            "accent_color_id": 0, "max_reaction_count": 11, "accepted_gift_types": gifts}

    def api_get_chat_member(self, params: JsonDict) -> JsonDict:
        """A member's status: "creator" or "administrator" for the group's admins (``set_admins``),
        "member" for everyone else; a private chat's own user is its "member"."""
        chat = self._chat(params.get("chat_id"))
        user_id = params.get("user_id")
        user = copy.deepcopy(self.users.get(user_id) or {"id": user_id, "is_bot": False, "first_name": "Someone"})
        admins = self.admins.get(chat["id"], [])
        if admins[:1] == [user_id]:
            return {"status": "creator", "user": user, "is_anonymous": False}
        if user_id in admins:
            rights = dict.fromkeys(("can_be_edited", "is_anonymous", "can_manage_chat", "can_delete_messages",
                                    "can_manage_video_chats", "can_restrict_members", "can_promote_members",
                                    "can_change_info", "can_invite_users", "can_post_stories",
                                    "can_edit_stories", "can_delete_stories"), False)
            return {"status": "administrator", "user": user} | rights
        return {"status": "member", "user": user}

    def api_close(self, params: JsonDict) -> bool:
        return True

    def api_log_out(self, params: JsonDict) -> bool:
        return True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    api: BotApiServer

    def server_bind(self) -> None:
        """Skips HTTPServer's getfqdn(), a reverse DNS lookup that can stall for seconds."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]  # type: ignore[assignment]

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Into api.log, not stderr (a client hanging up mid-answer is routine in fault tests)."""
        self.api.log.append(self.api.redact(traceback.format_exc()))


class _Handler(BaseHTTPRequestHandler):
    """Thin HTTP layer: read the body, let BotApiServer answer, write bytes (or hang up)."""

    protocol_version = "HTTP/1.1"  # keep-alive, as api.telegram.org and httpx's pool expect
    disable_nagle_algorithm = True  # headers and body go out in two writes: avoid 40 ms delayed ACKs
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if len(body) < length:  # the client died mid-request (a killed bot): nothing to act on
            self.close_connection = True
            return
        answer = self.server.api.answer(self.path, self.headers.get("Content-Type", ""), body)
        if answer is None:
            self.close_connection = True
            return
        status, content_type, payload = answer
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        if self.server.api.closed:  # so clients don't keep polling over a kept-alive connection
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        self.server.api.log.append(self.server.api.redact(format % args))


class BotApiServer:
    """The stand-in server plus the controls tests use to play the Telegram side."""

    def __init__(self, token: str = "123456:ABC-def_ghi", *, bot_username: str = "articlebot_test_bot",
                 strict_ampersand: bool = True) -> None:
        self.token = token
        self.state = BotState(token, bot_username, strict_ampersand)
        self.log: list[str] = []
        self._faults: dict[str, deque[Fault]] = {}
        self._flood_limit: int | None = None
        self._flood: deque[float] = deque()
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.api = self
        self.port: int = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/bot"
        self.base_file_url = f"http://127.0.0.1:{self.port}/file/bot"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01},
                                        name="botapi-stand-in", daemon=True)
        self._thread.start()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stops serving; long polls and slow faults in flight return at once."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        with self.state.cond:
            self.state.closing = True
            self.state.cond.notify_all()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def closed(self) -> bool:
        return self._stopping.is_set()

    def redact(self, text: str) -> str:
        return text.replace(self.token, "<token>")

    # -- request handling ---------------------------------------------------------------------

    def answer(self, path: str, content_type: str, body: bytes) -> tuple[int, str, bytes] | None:
        """Status, content type and body for one request; None means "hang up without answering"."""
        if self.closed:  # a kept-alive connection outlives close(); refuse like a stopped server
            return None
        arrived = time.time()
        url = urlsplit(path)
        route = _ROUTE.match(url.path)
        method = route.group(3) if route else url.path
        try:
            params, malformed = decode_params(content_type, body, url.query), None
        except ApiError as error:
            params, malformed = {}, error
        for refusal in (ApiError(404, "Not Found") if route is None or route.group(1) else None,
                        ApiError(401, "Unauthorized") if route and route.group(2) != self.token else None,
                        malformed):
            if refusal is not None:
                return self._reply(Call(method, params, refusal.code, refusal.body(), arrived))
        flooded = self._flooded(method, arrived)
        if flooded is not None:
            return self._reply(Call(method, params, 429, flooded.body(), arrived))
        fault = self._take_fault(method)
        if fault is not None and fault.kind != "slow":
            return self._faulted(fault, Call(method, params, 0, None, arrived))
        if fault is not None:
            self._stopping.wait(fault.delay)  # cut short by close(), then answered as usual
        try:
            call = Call(method, params, 200, {"ok": True, "result": self.state.call(method, params)}, arrived)
        except ApiError as error:
            call = Call(method, params, error.code, error.body(), arrived)
        except Exception:  # noqa: BLE001 - a stand-in bug: answer like a broken server, log why
            self.log.append(self.redact(traceback.format_exc()))
            call = Call(method, params, 500, ApiError(500, "Internal Server Error").body(), arrived)
        return self._reply(call)

    def _reply(self, call: Call) -> tuple[int, str, bytes]:
        self.state.record(call)
        if isinstance(call.response, str):
            return call.status, "text/html", call.response.encode()
        return call.status, "application/json", json.dumps(call.response, ensure_ascii=False).encode()

    def _faulted(self, fault: Fault, call: Call) -> tuple[int, str, bytes] | None:
        """A 429 as Telegram's flood control sends it, a 500, nginx's 502 page, or a hang-up."""
        if fault.kind == "drop":
            self.state.record(call)
            return None
        response: Any = {
            "429": ApiError(429, f"Too Many Requests: retry after {fault.retry_after}",
                            {"retry_after": fault.retry_after}).body(),
            "500": ApiError(500, "Internal Server Error").body(),
            "502": "<html><head><title>502 Bad Gateway</title></head>"
                   "<body><h1>502 Bad Gateway</h1></body></html>",
        }[fault.kind]
        return self._reply(Call(call.method, call.params, int(fault.kind), response, call.time))

    def _take_fault(self, method: str) -> Fault | None:
        with self.state.cond:
            faults = self._faults.get(method.lower())
            return faults.popleft() if faults else None

    # -- test controls: faults ----------------------------------------------------------------

    def fail_next(self, method: str, kind: str, times: int = 1, retry_after: int = 1,
                  delay: float = 2.0) -> None:
        """Make the next ``times`` calls of ``method`` fail: "429", "500", "502", "slow" or "drop".

        A failed call is recorded but has no effect (nothing is sent); "slow" answers
        normally after ``delay`` seconds, so it does take effect.
        """
        if kind not in ("429", "500", "502", "slow", "drop"):
            raise ValueError(f"unknown fault kind {kind!r}")
        with self.state.cond:
            queue = self._faults.setdefault(method.lower(), deque())
            queue.extend(Fault(kind, retry_after, delay) for _ in range(times))

    def flood_control(self, per_second: int | None) -> None:
        """Refuse messages (sendMessage, editMessageText) beyond ``per_second`` in any second with 429
        retry_after 1, as Telegram's flood control does (None: no limit, the default)."""
        with self.state.cond:
            self._flood_limit = per_second
            self._flood.clear()

    def _flooded(self, method: str, arrived: float) -> ApiError | None:
        if self._flood_limit is None or method.lower() not in ("sendmessage", "editmessagetext"):
            return None
        with self.state.cond:
            while self._flood and self._flood[0] <= arrived - 1.0:
                self._flood.popleft()
            if len(self._flood) >= self._flood_limit:
                return ApiError(429, "Too Many Requests: retry after 1", {"retry_after": 1})
            self._flood.append(arrived)
        return None

    def block(self, chat_id: int, description: str = "Forbidden: bot was blocked by the user") -> None:
        """From now on every message to ``chat_id`` gets 403 (a user who blocked the bot, a group that
        removed it: "Forbidden: bot was kicked from the group chat")."""
        with self.state.cond:
            self.state.blocked[chat_id] = description

    def set_admins(self, chat_id: int, user_ids: list[int]) -> None:
        """The group's administrators, as getChatMember reports them (the first one is its creator)."""
        with self.state.cond:
            self.state.admins[chat_id] = list(user_ids)

    def clear_faults(self) -> None:
        """Forget the faults not yet used: from now on every call is answered normally."""
        with self.state.cond:
            self._faults.clear()

    def pending_update_ids(self) -> list[int]:
        """Updates Telegram still holds: not yet confirmed by a getUpdates asking past them."""
        with self.state.cond:
            return [update["update_id"] for update in self.state.updates]

    def wait_until(self, condition: Callable[[], bool], timeout: float = 10) -> bool:
        """Block until ``condition()`` holds, re-checking whenever a call is recorded; False on timeout."""
        deadline = time.monotonic() + timeout
        with self.state.cond:
            while not condition():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.state.cond.wait(min(remaining, 0.1))
            return True

    def error_count(self, status: int) -> int:
        """How many answers had this HTTP status (0 counts dropped connections)."""
        return sum(1 for call in self.calls if call.status == status)

    # -- test controls: the user side ---------------------------------------------------------

    def send_text(self, chat_id: int, text: str, *, user_id: int | None = None, chat_type: str = "private",
                  language_code: str = "en", reply_to: JsonDict | int | None = None,
                  username: str | None = None, first_name: str | None = None) -> tuple[int, JsonDict]:
        """Queue a text message from a user; commands and @mentions get entities like on Telegram."""
        entities = []
        command = _COMMAND.match(text)
        if command:
            entities.append({"type": "bot_command", "offset": 0, "length": utf16_len(command.group())})
        for mention in _MENTION.finditer(text):
            if not command or mention.start() >= command.end():
                entities.append({"type": "mention", "offset": utf16_len(text[:mention.start()]),
                                 "length": utf16_len(mention.group())})
        return self._user_message(chat_id, {"text": text, "entities": entities}, user_id=user_id,
                                  chat_type=chat_type, language_code=language_code, reply_to=reply_to,
                                  username=username, first_name=first_name)

    def send_sticker(self, chat_id: int, *, emoji: str = "👍", **sender: Any) -> tuple[int, JsonDict]:
        """Queue a sticker message (what a bot that only handles text must survive)."""
        sticker = {"file_id": "CAACAgIAAxkBAAE", "file_unique_id": "AgADsticker", "type": "regular",
                   "width": 512, "height": 512, "is_animated": False, "is_video": False, "emoji": emoji}
        return self._user_message(chat_id, {"sticker": sticker}, **sender)

    def send_photo(self, chat_id: int, caption: str | None = None, **sender: Any) -> tuple[int, JsonDict]:
        """Queue a photo message, optionally captioned."""
        sizes = [{"file_id": f"AgACAgIAAxkBAAE{side}", "file_unique_id": f"AQAD{side}", "width": side,
                  "height": side, "file_size": side * 40} for side in (90, 800)]
        return self._user_message(chat_id, {"photo": sizes, "caption": caption}, **sender)

    def _user_message(self, chat_id: int, content: JsonDict, *, user_id: int | None = None,
                      chat_type: str = "private", language_code: str = "en",
                      reply_to: JsonDict | int | None = None, username: str | None = None,
                      first_name: str | None = None) -> tuple[int, JsonDict]:
        if (chat_type == "private") != (chat_id > 0):
            raise ValueError("private chats have positive ids, groups and supergroups negative ones")
        with self.state.cond:
            sender = self.state.user(user_id or (chat_id if chat_id > 0 else DEFAULT_GROUP_USER),
                                     username=username, first_name=first_name, language_code=language_code)
            chat = self.state.chat_for(chat_id, chat_type, sender)
            if reply_to is not None:
                target_id = reply_to["message_id"] if isinstance(reply_to, dict) else reply_to
                target = self.state.message(chat_id, target_id)
                if target is None:
                    raise ValueError(f"no message {target_id} in chat {chat_id} to reply to")
                content = content | {"reply_to_message": {k: v for k, v in target.items()
                                                          if k != "reply_to_message"}}
            message = copy.deepcopy(self.state.new_message(chat, sender, **content))
            return self.state.queue("message", message), message

    def press(self, message: JsonDict, callback_data: str, *, user_id: int | None = None) -> str:
        """Queue a tap on an inline button of a bot message; the button must exist right now."""
        with self.state.cond:
            chat_id = message["chat"]["id"]
            current = self.state.message(chat_id, message["message_id"])
            if current is None or current["from"]["id"] != self.state.bot["id"]:
                raise ValueError(f"no bot message {message['message_id']} in chat {chat_id}")
            rows = (current.get("reply_markup") or {}).get("inline_keyboard", [])
            buttons = itertools.chain.from_iterable(rows)
            available = [button.get("callback_data") for button in buttons]
            if callback_data not in available:
                raise ValueError(f"message has no button with callback_data {callback_data!r}: {available}")
            query_id = str(next(self.state.query_ids))
            self.state.open_queries.add(query_id)
            sender = self.state.user(user_id or (chat_id if chat_id > 0 else DEFAULT_GROUP_USER))
            self.state.queue("callback_query", {
                "id": query_id, "from": sender, "message": copy.deepcopy(current),
                "chat_instance": str(abs(chat_id) * 7919), "data": callback_data})
            return query_id

    def inline_query(self, user_id: int, query: str, *, offset: str = "") -> str:
        """Queue an inline query (``@bot query`` typed in any chat); returns its id."""
        with self.state.cond:
            query_id = str(next(self.state.query_ids))
            self.state.open_queries.add(query_id)
            self.state.queue("inline_query", {"id": query_id, "from": self.state.user(user_id),
                                              "query": query, "offset": offset, "chat_type": "sender"})
            return query_id

    # -- test controls: inspection ------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        with self.state.cond:
            return list(self.state.calls)

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method.lower() == method.lower()]

    def wait_for(self, what: str | Callable[[Call], bool], count: int = 1, timeout: float = 10) -> list[Call]:
        """Block until at least ``count`` successful calls match (a method name or a predicate on
        Call); returns every match, so a caller expecting one call sees a second one too."""
        matches: Callable[[Call], bool] = ((lambda call: call.method.lower() == what.lower())
                                           if isinstance(what, str) else what)
        deadline = time.monotonic() + timeout
        with self.state.cond:
            while True:
                found = [call for call in self.state.calls if call.ok and matches(call)]
                remaining = deadline - time.monotonic()
                if len(found) >= count or remaining <= 0:
                    break
                self.state.cond.wait(remaining)
        if len(found) < count:
            summary = "\n".join(f"  {c.method} -> {c.status} {c.response.get('description') or ''}"
                                if isinstance(c.response, dict) else f"  {c.method} -> {c.status}"
                                for c in self.calls)
            raise AssertionError(f"waited {timeout}s for {count} call(s) matching {what!r}, "
                                 f"saw {len(found)}; recorded calls:\n{summary or '  (none)'}")
        return found

    def sent_messages(self, chat_id: int | None = None) -> list[JsonDict]:
        """Results of successful sendMessage/editMessageText calls, oldest first."""
        return [call.result for call in self.calls
                if call.ok and call.method.lower() in ("sendmessage", "editmessagetext")
                and isinstance(call.result, dict) and chat_id in (None, call.result["chat"]["id"])]

    def current_message(self, chat_id: int, message_id: int) -> JsonDict | None:
        """A message as the chat shows it now (after edits); None once deleted."""
        with self.state.cond:
            return copy.deepcopy(self.state.message(chat_id, message_id))
