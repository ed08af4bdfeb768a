"""Extractive summaries, topics, tags and their digests."""
