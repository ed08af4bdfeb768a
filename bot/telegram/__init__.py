"""What the bot says and how it reaches readers: dialogue, strings, Telegram handlers, delivery, state."""
