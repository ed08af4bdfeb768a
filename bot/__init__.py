"""articlebot: answers questions about a collection of Markdown articles, with quotes and sources."""

__version__ = "0.1.0"
