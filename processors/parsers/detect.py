"""`--format auto`: which built-in format a sample of lines from one source is in.

Every built-in parser reads the sample; a format *fits* when it turns at least
`MIN_SHARE` of the lines into events. Exactly one fitting format with the best share is
the answer. Anything else is not guessed: no fit, or a tie between formats that read the
same lines equally well, is a `Detection` without a format whose `reason` names the
candidates, so the caller can say "declare --format" instead of miscounting.

Mappings (`mapping:<file>`) are never detected: they are the user's own declaration.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from apim.event import AccessEvent
from processors.parsers.base import ParseContext, Parser, parse_line

AUTO = "auto"
MIN_SHARE = 0.5
SAMPLE_LINES = 20


@dataclass(frozen=True, slots=True)
class Detection:
    format: str | None
    """The detected format name; None when not unambiguous (see `reason`)."""
    reason: str


def detect(
    lines: Sequence[bytes], parsers: Mapping[str, Parser], hash_credential: Callable[[str], str]
) -> Detection:
    """The one format that reads the (first `SAMPLE_LINES`) non-blank lines best."""
    sample = [line for line in lines if line.strip()][:SAMPLE_LINES]
    if not sample:
        return Detection(None, "format auto: no line to detect the format from")
    ctx = ParseContext("detect", hash_credential)
    shares = {name: _share(parser, sample, ctx) for name, parser in parsers.items()}
    best = max(shares.values())
    if best < MIN_SHARE:
        return Detection(
            None,
            f"format auto: no known format reads these lines (best {best:.0%} of "
            f"{len(sample)}); declare the format, or write a mapping (docs/mapping.md)",
        )
    winners = sorted(name for name, share in shares.items() if share == best)
    if len(winners) > 1:
        return Detection(
            None,
            f"format auto: ambiguous, {' and '.join(winners)} read these lines alike; "
            "declare one of them",
        )
    return Detection(winners[0], f"format auto: {winners[0]} ({best:.0%} of {len(sample)} lines)")


def _share(parser: Parser, sample: Sequence[bytes], ctx: ParseContext) -> float:
    good = sum(
        any(isinstance(r, AccessEvent) for r in parse_line(parser, line, ctx)) for line in sample
    )
    return good / len(sample)
