"""What the tests share, as python-telegram-bot keeps its own in ``tests/auxil/``.

``botapi``: a local stand-in for the Telegram Bot API server (real HTTP, Telegram's rules and error
descriptions). ``bots``: the bot under test, run against it three ways (an Application polling from a
thread, the webhook server from a thread, ``python -m bot telegram`` as a process) and the helpers that
read what it sent.
"""
