"""Structured logging for every process: JSON lines on stderr, or key=value on a terminal.

Our own loggers (structlog) and libraries' (Faust, aiokafka: stdlib) share one renderer.
The Faust worker gets the same configuration through `dict_config()`.
"""

from __future__ import annotations

import logging.config
import sys
from typing import Any

import structlog

_SHARED = [
    structlog.contextvars.merge_contextvars,
    structlog.processors.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


_LEVELS = {"warn": "WARNING", "crit": "CRITICAL"}


def dict_config(level: str = "INFO", *, json: bool | None = None) -> dict[str, Any]:
    """A `logging.config.dictConfig` routing every stdlib record through structlog."""
    as_json = (not sys.stderr.isatty()) if json is None else json
    renderer = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {
                "()": structlog.stdlib.ProcessorFormatter,
                "foreign_pre_chain": _SHARED,
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    renderer,
                ],
            }
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "structured",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": _LEVELS.get(level.lower(), level.upper()), "handlers": ["stderr"]},
    }


def configure(level: str = "INFO", *, json: bool | None = None) -> None:
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.filter_by_level,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    logging.config.dictConfig(dict_config(level, json=json))


def get(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
