"""Quieting a library's logger for a while: its warnings that the caller answers with one message of its own."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def logger_quieted(name: str, level: int = logging.ERROR) -> Iterator[None]:
    """Raise logger `name` to `level` inside the block, then put back what it had."""
    logger = logging.getLogger(name)
    before = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(before)
