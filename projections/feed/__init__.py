"""The news-feed projection: fan-out on write, capped per user, rebuildable from the log."""
