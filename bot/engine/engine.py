"""The engine: a library with the answerer and the summarizer over it, built in one place.

The CLI, the terminal chat, the Telegram bot and the reloader all need the same three objects
over the same index, warmed the same way; a reload replaces them as one value, so no request
ever sees a new answerer beside an old summarizer.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Settings
from bot.search.answers import Answerer
from bot.search.library import Library
from bot.summaries.catalog import Summarizer


@dataclass(frozen=True)
class Engine:
    """What one index serves: quotes (``answerer``) and summaries, tags and digests (``summarizer``)."""

    library: Library
    answerer: Answerer
    summarizer: Summarizer

    @classmethod
    def over(cls, library: Library, settings: Settings | None = None) -> Engine:
        settings = settings or Settings()
        return cls(library, Answerer(library, settings.min_relevance, settings.max_question_chars),
                   Summarizer(library))

    def warm(self) -> Engine:
        """Load now what the first question would otherwise wait for: jieba, OpenCC, the index's term
        dict, the summarizer's tables, the speller's (a bot answers its first reader as fast as its
        hundredth)."""
        self.answerer.tokens("预热 warm-up")
        self.library.index.warm()
        self.answerer.reader.warm()
        self.summarizer.warm()
        return self
