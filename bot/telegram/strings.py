"""Every string a reader sees, in English and Chinese side by side: Telegram, the terminal, /stats.

One entry per key, the English text and then the Chinese, so that a new string cannot be added in
one language only and a translator reads both at once. ``strings(lang)`` picks the language from
a Telegram ``language_code``; placeholders (``{question}``, ``{n}`` …) are filled with
``str.format`` where the string is used. Texts are plain unless a key says HTML (the help texts),
and are escaped where they are used. No imports from the rest of the bot: everything else
imports this.
"""

from __future__ import annotations

_TEXTS: dict[str, tuple[str, str]] = {
    # --- answers -----------------------------------------------------------------------------
    "nothing": ("Nothing in the articles answers “{question}”.", "文章里没有找到能回答“{question}”的内容。"),
    "try_tags": ("Try a tag: {tags}", "试试这些标签：{tags}"),
    "matched": ("Matched", "匹配"),
    "showing_for": ("Showing results for “{searched}”.", "以下是“{searched}”的结果。"),
    "dated": ("Articles of {date} first (“{words}”).", "优先显示 {date} 的文章（“{words}”）。"),
    "more": ("More", "更多"),
    "summary": ("Summary", "摘要"),
    "source": ("Source", "原文"),
    "page": ("{first}–{last} of {total}", "第 {first}–{last} 条，共 {total} 条"),
    "no_date": ("undated", "无日期"),
    "back": ("Back", "上一页"),
    "expired": ("That button has expired; please ask again.", "这个按钮已过期，请重新提问。"),
    "article_gone": ("“{title}” is no longer among the articles I have read, so I cannot summarize it.",
                     "“{title}”已不在收录的文章中，无法生成摘要。"),
    "author_summary": ("Summary written by the author.", "摘要由作者撰写。"),
    "extract_summary": ("Extractive summary: sentences quoted from the article.", "抽取式摘要：句子均摘自原文。"),
    "following_up": ("(following up on “{question}”)", "（接着上一个问题“{question}”）"),
    # --- browsing ----------------------------------------------------------------------------
    "tags_title": ("Tags and topics (page {page} of {pages}, {total} in all). Tap one to see its articles.",
                   "标签与主题（第 {page}/{pages} 页，共 {total} 个），点击查看文章。"),
    "tags_title_typed": ("Tags and topics (page {page} of {pages}, {total} in all). /tag NAME shows one's articles.",
                         "标签与主题（第 {page}/{pages} 页，共 {total} 个），输入 /tag 名称 查看文章。"),
    "tag_usage": ("Usage: /tag NAME, e.g. /tag iyiou. /tags lists them.",
                  "用法：/tag 名称，例如 /tag iyiou。/tags 可列出全部标签。"),
    "unknown_tag": ("I know no tag or topic called “{name}”, and no article mentions it.",
                    "没有名为“{name}”的标签或主题，也没有文章提到它。"),
    "latest_title": ("Latest articles", "最新文章"),
    # --- commands ----------------------------------------------------------------------------
    "welcome": ("Hi! I answer questions about {articles} by quoting them, with links to the originals.",
                "你好！我通过引用已收录的 {articles}的原文来回答问题，并附原文链接。"),
    "about": ("I have read {articles} ({paragraphs}, {tags}), dated {span}. Index built {built}. "
              "Files skipped: {skipped}.",
              "已收录 {articles}（{paragraphs}，{tags}），日期 {span}。索引建于 {built}。跳过的文件：{skipped}。"),
    "unknown_command": ("I don't know that command. /help lists what I can do.", "我不认识这个命令。发送 /help 查看可用命令。"),
    "not_text": ("I can only read text. Send me a question as a message.", "我只能读文字。请把问题以文字发给我。"),
    "rate_limited": ("You're asking faster than I can answer well. Please wait {seconds} seconds.",
                     "提问太快了，请 {seconds} 秒后再试。"),
    "apology": ("Sorry, something went wrong while answering. Please try again in a moment.",
                "抱歉，回答时出了点问题，请稍后再试。"),
    "ask_usage": ("Usage: /ask QUESTION, e.g. /ask DeepSeek V3 的训练成本是多少？",
                  "用法：/ask 问题，例如 /ask DeepSeek V3 的训练成本是多少？"),
    "source_usage": ("Usage: /source QUERY, e.g. /source DeepSeek", "用法：/source 关键词，例如 /source DeepSeek"),
    "admin_only": ("Sorry, only the bot's admins can use that command.", "抱歉，只有本机器人的管理员可以使用这个命令。"),
    "admin_only_settings": ("Sorry, only the bot's admins can change this group's settings.",
                            "抱歉，只有本机器人的管理员可以更改本群的设置。"),
    "not_allowed": ("Sorry, this bot only answers in the chats it was set up for.", "抱歉，本机器人只在指定的聊天中回答。"),
    "stats_usage": ("Usage: /stats [DAYS], e.g. /stats 7", "用法：/stats [天数]，例如 /stats 7"),
    # --- following tags ----------------------------------------------------------------------
    "follow_usage": ("Usage: /follow NAME, or /follow NAME daily for one digest a day, e.g. /follow iyiou. "
                     "/following lists what this chat follows.",
                     "用法：/follow 名称，或 /follow 名称 daily 每天一份摘要，例如 /follow iyiou。"
                     "/following 列出本聊天关注的标签。"),
    "unfollow_usage": ("Usage: /unfollow NAME, e.g. /unfollow iyiou. /following lists what this chat follows.",
                       "用法：/unfollow 名称，例如 /unfollow iyiou。/following 列出本聊天关注的标签。"),
    "followed": ("Following #{name}: each new article of it comes here with its summary. "
                 "/unfollow {name} stops it.",
                 "已关注 #{name}：每篇新文章都会连同摘要发到这里。发送 /unfollow {name} 取消关注。"),
    "followed_daily": ("Following #{name}: a digest of its new articles comes here every day at {time} "
                       "(none on days without any). /unfollow {name} stops it.",
                       "已关注 #{name}：每天 {time} 发来当天新文章的摘要（没有新文章则不发）。"
                       "发送 /unfollow {name} 取消关注。"),
    "follow_not_a_tag": ("“{name}” is no tag or topic, only a word some articles mention; only tags and topics "
                         "can be followed. Try one of these:",
                         "“{name}”不是标签或主题，只是部分文章提到的词；只能关注标签和主题。试试这些："),
    "follow_unknown": ("I know no tag or topic called “{name}”. Try one of these:",
                       "没有名为“{name}”的标签或主题。试试这些："),
    "follow_limit": ("This chat follows {n} tags and topics already, the most it can; /unfollow one first.",
                     "本聊天已关注 {n} 个标签和主题，已达上限；请先用 /unfollow 取消一个。"),
    "followed_toast": ("Following #{name}.", "已关注 #{name}。"),
    "unfollowed": ("No longer following #{name}.", "已取消关注 #{name}。"),
    "not_following": ("This chat does not follow “{name}”. /following lists what it follows.",
                      "本聊天没有关注“{name}”。/following 列出已关注的标签。"),
    "following_title": ("This chat follows:", "本聊天关注："),
    "following_none": ("This chat follows no tag or topic yet: /follow NAME, or the Follow button under a "
                       "tag's articles (/tags).",
                       "本聊天还没有关注任何标签或主题：发送 /follow 名称，或在标签的文章列表（/tags）下点“关注”。"),
    "following_each": ("each new article", "每篇新文章"),
    "following_daily": ("a daily digest at {time}", "每天 {time} 的摘要"),
    "follow_button": ("🔔 Follow", "🔔 关注"),
    "unfollow_button": ("🔕 Unfollow", "🔕 取消关注"),
    "admin_only_follow": ("Sorry, only this group's admins can change what it follows.",
                          "抱歉，只有本群管理员可以更改本群关注的标签。"),
    "following_off": ("Following tags is turned off for this bot.", "本机器人未开启标签关注功能。"),
    "new_article_footer": ("You follow {tags} · /following", "你关注了 {tags} · /following"),
    "digest_title": ("Daily digest of #{name}, {day}", "#{name} 每日摘要（{day}）"),
    "digest_more": ("… and {n} more: /tag {name}", "……另有 {n} 篇：/tag {name}"),
    "broadcast_title": ("Deliveries to followers", "关注推送"),
    "broadcast_follows": ("Follows: {follows} in {chats} chat(s); {daily} of them daily",
                          "关注：{chats} 个聊天共 {follows} 个，其中每日摘要 {daily} 个"),
    "broadcast_queue": ("Queued now: {pending}; last 24 h: {sent} sent, {dropped} to chats that blocked the bot, "
                        "{unsure} timed out, {failed} failed",
                        "待发送：{pending}；最近 24 小时：已发送 {sent}，对方已屏蔽 {dropped}，超时 {unsure}，失败 {failed}"),
    "broadcast_pace": ("Pace: up to {rate:g} messages/s in all (answers first), 20/min per group; "
                       "sending now at {current:.1f}/s",
                       "速率：总计每秒至多 {rate:g} 条（先回答提问），每个群每分钟 20 条；当前每秒 {current:.1f} 条"),
    "broadcast_digest": ("Daily digests at {time}; next {next}", "每日摘要时间 {time}；下一次 {next}"),
    "broadcast_off": ("Following is turned off (setting following).", "关注功能已关闭（设置 following）。"),
    # --- /settings and votes -------------------------------------------------------------------
    "settings_title": ("Settings for this chat", "本聊天的设置"),
    "settings_language": ("Language: {value}", "语言：{value}"),
    "settings_per_page": ("Quotes per answer: {value}", "每次回答的引文数：{value}"),
    "settings_auto": ("each user's own", "跟随各用户"),
    "settings_hint": ("Tap to change.", "点击按钮更改。"),
    "saved": ("Saved.", "已保存。"),
    "feedback_thanks": ("Thanks! Your {vote} is noted.", "谢谢！已记下你的 {vote}。"),
    "feedback_changed": ("Changed to {vote}.", "已改为 {vote}。"),
    "feedback_same": ("You already gave this {vote}.", "你已经给过 {vote} 了。"),
    # --- /reload -------------------------------------------------------------------------------
    "reload_unavailable": ("Reloading is not available, or still running; see the log.",
                           "索引更新不可用或仍在进行，请稍后查看日志。"),
    "reload_failed": ("Reload failed: {error}. Still answering from the previous index.",
                      "重新索引失败：{error}。仍使用之前的索引回答。"),
    "reloaded_in": ("Reloaded in {seconds:.1f} s", "已重新索引（{seconds:.1f} 秒）"),
    "no_file_changed": ("No file changed", "文件没有变化"),
    "reload_head": ("{done}: {articles}, {skipped} skipped", "{done}：{articles}，跳过 {skipped} 个文件"),
    "reload_more": ("… and {n} more", "……另有 {n} 个"),
    "colon": (":", "："),
    # --- /stats (the report) -------------------------------------------------------------------
    "report_title": ("Last {days} day(s), {since} – {until}", "最近 {days} 天（{since} – {until}）"),
    "report_questions": ("Questions: {n}, nothing found: {nothing} ({share})", "提问：{n}，未找到答案：{nothing}（{share}）"),
    "report_latency": ("Latency: p50 {p50} ms, p99 {p99} ms", "响应时间：p50 {p50} 毫秒，p99 {p99} 毫秒"),
    "report_feedback": ("Feedback: {up} 👍, {down} 👎", "反馈：{up} 👍，{down} 👎"),
    "report_per_day": ("Questions per day", "每日提问"),
    "report_unanswered": ("Found nothing, most asked", "未找到答案的提问（按次数）"),
    "report_disliked": ("Got 👎 most", "得到 👎 最多的提问"),
    "report_tags": ("Tags opened most", "最常打开的标签"),
    "report_usage": ("Requests", "请求"),
    "report_none": ("none", "无"),
    "report_follows": ("Follows per tag", "各标签的关注数"),
    "report_deliveries": ("Deliveries to followers per day", "每日推送给关注者的消息"),
    # --- the terminal chat -------------------------------------------------------------------
    "nothing_to_turn": ("Ask a question first: “more” and “back” turn the pages of an answer (or of /tags, /tag NAME).",
                        "请先提问：“more” 和 “back” 用于翻看回答（或 /tags、/tag 名称）的各页。"),
    "no_answer_yet": ("Ask a question first: “summary N” summarizes the article of its quote N.",
                      "请先提问：“summary N” 给出回答中第 N 条引文所在文章的摘要。"),
    "nothing_more": ("That was all of it: there is nothing more.", "已经是全部内容，没有更多了。"),
    "first_page": ("This is the first page already.", "已经是第一页。"),
    "no_such_quote": ("There is no quote {n} to summarize: the last answer showed {shown}.",
                      "没有第 {n} 条引文可以摘要：上一个回答显示了{shown}。"),
    "quotes_shown_one": ("quote 1", "第 1 条引文"),
    "quotes_shown": ("quotes 1–{last}", "第 1–{last} 条引文"),
    "summary_usage": ("Usage: summary N, the summary of the article quote N comes from, e.g. summary 1.",
                      "用法：summary N，第 N 条引文所在文章的摘要，例如 summary 1。"),
    "latest_usage": ("Usage: /latest [N], e.g. /latest 5.", "用法：/latest [N]，例如 /latest 5。"),
    "unknown_command_typed": ("Unknown command {command}. /help lists what works here.",
                              "未知命令 {command}。/help 列出这里可用的命令。"),
    "banner_hint": ("Type a question, /help for the commands; quit or Ctrl-D leaves.",
                    "输入问题即可，/help 查看命令；quit 或 Ctrl-D 退出。"),
    "legend": ("In answers, <b>bold</b> marks the words that matched and <u>underline</u> the sentence that answers.",
               "回答中，<b>粗体</b>标出匹配的词，<u>下划线</u>标出回答问题的句子。"),
    "interrupted": ("(interrupted)", "（已中断）"),
    # --- help (HTML; {bot} is the bot's username) --------------------------------------------
    "help": ("""<b>articlebot</b> answers questions by quoting the articles it has read, with links to the originals.

Just type a question, e.g. <i>DeepSeek V3 的训练成本是多少？</i>
/ask QUESTION: ask (in groups too)
/tags: browse tags
/tag NAME: a tag's articles with short summaries
/latest [N]: the newest articles
/source QUERY: links to the original articles
/about: what I have read
/follow NAME [daily]: new articles of a tag come here (or a daily digest)
/unfollow NAME, /following: stop, or see what this chat follows
/settings: this chat's language and quotes per answer
In groups, mention me or reply to my message. In any chat, type @{bot} and a question.""",
             """<b>articlebot</b> 引用已收录文章的原文来回答问题，并附上原文链接。

直接输入问题即可，例如 <i>DeepSeek V3 的训练成本是多少？</i>
/ask 问题：提问（群组中也可用）
/tags：浏览标签
/tag 名称：某标签下的文章及摘要
/latest [N]：最新文章
/source 关键词：原文链接
/about：收录情况
/follow 名称 [daily]：关注标签，新文章会发到这里（或每天一份摘要）
/unfollow 名称、/following：取消关注，或查看本聊天关注的标签
/settings：本聊天的语言和每次回答的引文数
在群组中请 @我 或回复我的消息；在任意聊天中输入 @{bot} 加问题即可内联搜索。"""),
    "help_terminal": ("""<b>articlebot</b> answers questions by quoting the articles it has read, with links to the originals.

Type a question, e.g. <i>DeepSeek V3 的训练成本是多少？</i>
A short question after an answer follows up on it, e.g. <i>那 R1 呢？</i> or <i>and R1?</i>
more, back: the next or previous quotes (or page of a list)
summary N: a summary of the article quote N comes from
/tags: browse tags and topics
/tag NAME: a tag's articles with short summaries
/latest [N]: the newest articles
/source QUERY: links to the original articles
/about: what I have read
/help: this help · quit, exit or Ctrl-D: leave""",
                      """<b>articlebot</b> 引用已收录文章的原文来回答问题，并附上原文链接。

直接输入问题即可，例如 <i>DeepSeek V3 的训练成本是多少？</i>
回答之后的简短问题会接着上一个问题，例如 <i>那 R1 呢？</i>
more、back：后面或前面的引文（或列表的下一页、上一页）
summary N：第 N 条引文所在文章的摘要
/tags：浏览标签和主题
/tag 名称：某标签下的文章及摘要
/latest [N]：最新文章
/source 关键词：原文链接
/about：收录情况
/help：本帮助 · quit、exit 或 Ctrl-D：退出"""),
}
"""Key → (English, Chinese). "help_terminal" is the help where there are no buttons, groups,
inline mode or /settings: only what works in a terminal."""

STRINGS: dict[str, dict[str, str]] = {
    "en": {key: english for key, (english, _chinese) in _TEXTS.items()},
    "zh": {key: chinese for key, (_english, chinese) in _TEXTS.items()},
}
"""The same texts by language, as ``strings`` hands them out."""

UNITS: dict[str, tuple[str, str, str]] = {
    "article": ("article", "articles", "篇文章"),
    "paragraph": ("paragraph", "paragraphs", "个段落"),
    "tag": ("tag or topic", "tags and topics", "个标签和主题"),
    "file": ("file", "files", "个文件"),
}
"""What ``replies.count`` counts: English singular, English plural, Chinese (measure word and noun)."""

COMMAND_MENU: tuple[tuple[str, str, str], ...] = (
    ("ask", "Ask a question", "提问"),
    ("tags", "Browse tags", "浏览标签"),
    ("tag", "A tag's articles with summaries", "某标签的文章与摘要"),
    ("latest", "The newest articles", "最新文章"),
    ("source", "Links to the original articles", "原文链接"),
    ("about", "What I have read", "收录情况"),
    ("follow", "Follow a tag: new articles come here", "关注标签：新文章发到这里"),
    ("following", "What this chat follows", "本聊天关注的标签"),
    ("settings", "Language and quotes per answer", "语言与每次回答的引文数"),
    ("help", "How to use me", "使用说明"),
)
"""The command menu Telegram shows beside the message box: command, English, Chinese description."""

LANGUAGES = (("auto", None), ("en", "English"), ("zh", "中文"))
"""Languages a chat can choose in /settings, each named in itself; "auto" (named by "settings_auto")
follows each user's Telegram language."""

EXAMPLES = ("DeepSeek V3 的训练成本是多少？", "英偉達股價", "Bitcoin price this week")
"""Example questions /start offers as buttons (one per script the articles are written in)."""


def strings(lang: str | None) -> dict[str, str]:
    """UI strings for a Telegram ``language_code`` (zh-hans, zh-TW … → zh; anything else → en)."""
    return STRINGS["zh"] if (lang or "").lower().startswith("zh") else STRINGS["en"]


def is_chinese(lang: str | None) -> bool:
    """Whether ``strings(lang)`` answers in Chinese."""
    return strings(lang) is STRINGS["zh"]


def command_menu(lang: str) -> list[tuple[str, str]]:
    """(command, description) of the menu in ``lang`` ("en" or "zh")."""
    return [(command, chinese if lang == "zh" else english) for command, english, chinese in COMMAND_MENU]
