"""Deterministic fuzzed gateway log lines whose outcome is known by construction.

Every line comes with what it must yield, decided here and never by the code under test:
the consumers of its valid records (one event each) and the number of its records that
must be dead-lettered. Valid lines are built from chosen field values in the documented
formats (Kong `kong.log.serialize()` JSON, NGINX `combined`); bad lines are built so they
cannot be valid whatever a parser does (text that is not JSON at all, no space where the
combined format needs seven, a status that is not three digits, ...). Nothing is made by
randomly mutating a valid line and guessing.

Counting rules the oracle relies on (README and parser docstrings): a Kong line holds one
record (object) or several (array); an array with k bad elements gives k dead letters and
its good elements still count; a line that is not valid JSON, or JSON that is neither an
object nor an array, is one bad record; an NGINX line is one record.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone

CONSUMERS = ["acme-mobile", "globex-web", "initech-batch", "umbrella", "hooli-ios"]
ANONYMOUS = "anonymous"
HUGE = 200 * 1024
WHITESPACE = frozenset(b" \t\n\r\x0b\x0c")
NO_WHITESPACE = bytes(b for b in range(256) if b not in WHITESPACE)
MAX_MESSAGE_BYTES = 900 * 1024
KONG_KINDS = {  # line kind -> weight
    "valid": 52,
    "valid_array": 8,
    "mixed_array": 6,
    "bad_array": 2,
    "bad_object": 12,
    "truncated": 5,
    "random": 4,
    "non_utf8": 3,
    "scalar": 2,
    "deep": 2,
    "nginx_text": 2,
    "empty_array": 2,
}
NGINX_BAD_FIELDS = {  # index of a space-separated part of a combined line -> bad values
    1: ("+",),  # the ident field is always "-"
    3: ("[32/Foo/2024:25:61:61 +0000]", "[10/Jun/2024 11:45:45 +0200]", "[]", "[-]"),
    4: ('"GET"', '"-"', '"\\x16\\x03\\x01"'),  # no METHOD URI PROTOCOL request line
    5: ("abc", "2x0", "20", "2000", "-", "099", "600"),  # not an HTTP status (RFC 9110)
    6: ("-5", "12k", "1.5", "0x10"),  # not a byte count
}
NGINX_KINDS = {
    "valid": 60,
    "garbage": 8,
    "non_utf8": 3,
    "field": 17,
    "truncated": 5,
    "trailing": 4,
    "kong_text": 3,
}


@dataclass(frozen=True, slots=True)
class Outcome:
    consumers: tuple[str, ...] = ()
    """One entry per valid record: the consumer it must be counted for."""
    dead: int = 0
    """Records of the line that must be dead-lettered."""
    kind: str = ""
    """How the line was made, e.g. "kong:truncated" (for coverage, not for the outcome)."""


VALID = Outcome  # readability at the call sites


@dataclass
class Expected:
    by_consumer: Counter = field(default_factory=Counter)
    dead_by_source: Counter = field(default_factory=Counter)
    """"<source>:<line>" -> dead letters it must produce."""
    good_sources: set[str] = field(default_factory=set)
    kinds: Counter = field(default_factory=Counter)
    lines: int = 0
    bad_lines: int = 0

    @property
    def events(self) -> int:
        return sum(self.by_consumer.values())

    @property
    def dead(self) -> int:
        return sum(self.dead_by_source.values())

    def add(self, source: str, outcome: Outcome) -> None:
        self.lines += 1
        self.kinds[outcome.kind] += 1
        self.by_consumer.update(outcome.consumers)
        if outcome.dead:
            self.bad_lines += 1
            self.dead_by_source[source] += outcome.dead
        else:
            self.good_sources.add(source)


class Fuzzer:
    def __init__(self, seed: int, now: datetime) -> None:
        self.rng = random.Random(seed)
        self.now_ms = int(now.timestamp() * 1000)

    # ---- Kong ----------------------------------------------------------------------------

    def kong_record(self, user_agent: str | None = None) -> tuple[dict, str]:
        """A valid record and the consumer it must be counted for."""
        r = self.rng
        identity = r.randrange(5)
        name = r.choice(CONSUMERS)
        record: dict = {
            "started_at": self.now_ms - r.randrange(240_000),
            "request": {
                "method": r.choice(("GET", "POST")),
                "uri": f"/v1/items/{r.randrange(1000)}",
            },
            "response": {"status": r.choice((200, 201, 304, 404, 503)), "size": r.randrange(9999)},
        }
        if r.random() < 0.5:
            record["latencies"] = {"request": r.randrange(1, 400), "proxy": -1, "kong": 1}
        if user_agent is not None:
            record["request"]["headers"] = {"user-agent": user_agent}
        if identity == 0:
            consumer = ANONYMOUS
        elif identity == 1:
            record["consumer"] = {"custom_id": name}
            consumer = name
        elif identity == 2:
            record["consumer"] = {"id": name}
            consumer = name
        else:
            record["consumer"] = {"id": "uuid-" + name, "username": name}
            consumer = name
        return record, consumer

    def kong_bad_record(self) -> dict | list | int | str | None:
        """A JSON value that is not a usable Kong record, whatever else is around it."""
        r = self.rng
        good, _ = self.kong_record()
        kind = r.randrange(14)
        if kind == 0:
            return {}
        if kind == 1:
            return r.choice((0, 42, -7, 3.5, 1e300))
        if kind == 2:
            return r.choice(("", "GET /x", "{}"))
        if kind == 3:
            return r.choice((None, True, False))
        if kind == 4:
            return r.choice(([], [good], [[]]))  # an array is not a record, even of records
        if kind == 5:  # wrong types
            good["response"]["status"] = r.choice(("200", "two hundred", None, [200], 200.5))
        elif kind == 6:
            good["started_at"] = r.choice(("yesterday", None, [], {}))
        elif kind == 7:  # numbers / scalars where objects are expected
            good[r.choice(("request", "response"))] = r.choice((42, "x", [], True))
        elif kind == 8:
            good["request"]["method"] = r.choice((5, None, [], {}))
        elif kind == 9:
            del good[r.choice(("started_at", "request", "response"))]
        elif kind == 10:  # documented range rules
            good["response"]["status"] = r.choice((0, 99, 600, 700, 99999, -200))
        elif kind == 11:
            good["started_at"] = r.choice((0, 1_718_012_745, -1, 10**14))  # seconds, etc.
        elif kind == 12:
            good[r.choice(("request", "response"))]["size"] = -r.randrange(1, 10**6)
        else:
            good["request"][r.choice(("uri", "method"))] = ""
        return good

    def kong_line(self) -> tuple[bytes, Outcome]:
        kind = self.rng.choices(list(KONG_KINDS), list(KONG_KINDS.values()))[0]
        line, outcome = self._kong_line(kind)
        return line, replace(outcome, kind=f"kong:{kind}")

    def _kong_line(self, kind: str) -> tuple[bytes, Outcome]:
        r = self.rng
        if kind == "valid":
            record, consumer = self.kong_record()
            return _json(record), VALID((consumer,))
        if kind == "valid_array":
            pairs = [self.kong_record() for _ in range(r.randint(1, 5))]
            return _json([p for p, _ in pairs]), VALID(tuple(c for _, c in pairs))
        if kind in ("mixed_array", "bad_array"):
            elements, consumers, dead = [], [], 0
            n = r.randint(1, 6)
            for i in range(n):
                if kind == "mixed_array" and (i != 0 and r.random() < 0.5):
                    record, consumer = self.kong_record()
                    elements.append(record)
                    consumers.append(consumer)
                else:  # the first element of a mixed array is always bad
                    elements.append(self.kong_bad_record())
                    dead += 1
            r.shuffle(elements)
            return _json(elements), Outcome(tuple(consumers), dead)
        if kind == "bad_object":
            value = self.kong_bad_record()
            while isinstance(value, list):  # a list at top level is an array of records
                value = self.kong_bad_record()
            return _json(value), Outcome(dead=1)
        if kind == "truncated":  # a proper prefix of an object/array text never closes it
            if r.random() < 0.7:
                text = _json(self.kong_record()[0])
            else:
                text = _json([self.kong_record()[0] for _ in range(3)])
            return text[: r.randint(1, len(text) - 1)], Outcome(dead=1)
        if kind == "random":  # '#' can start no JSON text
            return b"#" + self.random_bytes(r.randint(0, 300)), Outcome(dead=1)
        if kind == "non_utf8":  # JSON text must be UTF-8 (RFC 8259)
            record, _ = self.kong_record()
            record["request"]["uri"] = "/v1/@@BAD@@"
            bad = r.choice(
                (b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80")
            )
            return _json(record).replace(b"@@BAD@@", bad), Outcome(dead=1)
        if kind == "scalar":
            return r.choice((b"42", b"null", b'"a string"', b"true", b"-1.5e3")), Outcome(dead=1)
        if kind == "deep":  # one element or one object, however deep: one bad record
            depth = r.randint(2, 3000)
            if r.random() < 0.5:
                return b"[" * depth + b"]" * depth, Outcome(dead=1)
            return b'{"a":' * depth + b"1" + b"}" * depth, Outcome(dead=1)
        if kind == "nginx_text":
            return self.nginx_valid()[0], Outcome(dead=1)
        return b"[]", Outcome(dead=1)

    def kong_huge(self, valid: bool) -> tuple[bytes, Outcome]:
        line, outcome = self._kong_huge(valid)
        return line, replace(outcome, kind="kong:huge-valid" if valid else "kong:huge-bad")

    def _kong_huge(self, valid: bool) -> tuple[bytes, Outcome]:
        if valid:
            record, consumer = self.kong_record(user_agent="Mozilla/5.0 " + "x" * HUGE)
            return _json(record), VALID((consumer,))
        if self.rng.random() < 0.5:
            record, _ = self.kong_record(user_agent="y" * HUGE)
            record["response"]["status"] = "huge and wrong"
            return _json(record), Outcome(dead=1)
        return b"#" + self.random_bytes(HUGE), Outcome(dead=1)

    # ---- NGINX ---------------------------------------------------------------------------

    def nginx_parts(self, user_agent: str | None = None) -> tuple[list[str], str]:
        r = self.rng
        user = r.choice([*CONSUMERS, "-"])
        when = datetime.fromtimestamp((self.now_ms - r.randrange(240_000)) / 1000, UTC)
        when = when.astimezone(timezone(timedelta(hours=r.choice((0, 2, -5)))))
        ua = user_agent or r.choice(("curl/8.5.0", "Mozilla/5.0 (X11; Linux x86_64)", "-"))
        parts = [
            f"198.51.100.{r.randint(1, 254)}",
            "-",
            user,
            f"[{when.strftime('%d/%b/%Y:%H:%M:%S %z')}]",
            f'"{r.choice(("GET", "DELETE"))} /api/users/{r.randrange(500)} HTTP/1.1"',
            str(r.choice((200, 204, 301, 404, 500))),
            str(r.randrange(20000)),
            '"-"',
            f'"{ua}"',
        ]
        return parts, ANONYMOUS if user == "-" else user

    def nginx_valid(self, user_agent: str | None = None) -> tuple[bytes, str]:
        parts, consumer = self.nginx_parts(user_agent)
        ext = self.rng.choice(("", "", " 0.041 0.038", ' rt=0.120 urt="0.100, 0.010"'))
        return (" ".join(parts) + ext).encode(), consumer

    def nginx_line(self) -> tuple[bytes, Outcome]:
        kind = self.rng.choices(list(NGINX_KINDS), list(NGINX_KINDS.values()))[0]
        line, outcome = self._nginx_line(kind)
        return line, replace(outcome, kind=f"nginx:{kind}")

    def _nginx_line(self, kind: str) -> tuple[bytes, Outcome]:
        r = self.rng
        if kind == "valid":
            line, consumer = self.nginx_valid()
            return line, VALID((consumer,))
        if kind == "garbage":  # the combined format needs spaces between its fields
            return b"#" + self.random_bytes(r.randint(0, 300), NO_WHITESPACE), Outcome(dead=1)
        if kind == "non_utf8":
            return r.choice((b"\xff\xfe", b"\xc3\x28", b"\x80")) + self.random_bytes(
                r.randint(0, 60), NO_WHITESPACE
            ), Outcome(dead=1)
        if kind == "field":
            parts, _ = self.nginx_parts()
            field_index, values = r.choice(list(NGINX_BAD_FIELDS.items()))
            parts[field_index] = r.choice(values)
            return " ".join(parts).encode(), Outcome(dead=1)
        if kind == "truncated":  # a proper prefix lacks the closing quote of the user agent
            parts, _ = self.nginx_parts()
            text = " ".join(parts).encode()
            return text[: r.randint(1, len(text) - 1)], Outcome(dead=1)
        if kind == "trailing":  # a trailing field that is neither seconds nor key=value
            line, _ = self.nginx_valid()
            if not line.endswith(b'"'):
                line = line.rsplit(b'"', 1)[0] + b'"'
            return line + b" #" + self.random_bytes(r.randint(0, 20), NO_WHITESPACE), Outcome(
                dead=1
            )
        record, _ = self.kong_record()  # compact JSON has no space: not a combined line
        return _json(record), Outcome(dead=1)

    def nginx_huge(self, valid: bool) -> tuple[bytes, Outcome]:
        line, outcome = self._nginx_huge(valid)
        return line, replace(outcome, kind="nginx:huge-valid" if valid else "nginx:huge-bad")

    def _nginx_huge(self, valid: bool) -> tuple[bytes, Outcome]:
        if valid:
            line, consumer = self.nginx_valid(user_agent="Mozilla/5.0 " + "z" * HUGE)
            return line, VALID((consumer,))
        return b"#" + self.random_bytes(HUGE, NO_WHITESPACE), Outcome(dead=1)

    # ---- helpers -------------------------------------------------------------------------

    def random_bytes(self, n: int, alphabet: bytes | None = None) -> bytes:
        """n random bytes, never a newline (the message line separator)."""
        if alphabet is None:
            alphabet = bytes(b for b in range(256) if b != 0x0A)
        return bytes(self.rng.choices(alphabet, k=n))


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


@dataclass
class Traffic:
    messages: list[tuple[bytes, dict[str, bytes]]]
    expected: Expected


def generate(total_lines: int, seed: int, now: datetime, huge_per_format: int = 6) -> Traffic:
    """`total_lines` lines, half Kong and half NGINX; 90 % in 200-line messages, 10 % alone.

    Huge lines (200 KB) go one per message, some valid, some bad.
    """
    fz = Fuzzer(seed, now)
    expected = Expected()
    messages: list[tuple[bytes, dict[str, bytes]]] = []
    per_format = total_lines // 2
    formats = (("kong", fz.kong_line, fz.kong_huge), ("nginx", fz.nginx_line, fz.nginx_huge))
    for fmt, make, huge in formats:
        singles = per_format // 10
        batched = per_format - singles
        n_huge = 0

        def line_of(kind: str, make=make, huge=huge) -> tuple[bytes, Outcome]:
            nonlocal n_huge
            if kind == "huge":
                n_huge += 1
                return huge(n_huge % 2 == 1)  # alternately valid and bad
            return make()

        # 200-line messages, at most one huge line each
        source, line_no = f"{fmt}-batched.log", 1
        while line_no <= batched:
            size = min(200, batched - line_no + 1)
            lines = []
            for i in range(size):
                kind = "huge" if i == 100 and n_huge < huge_per_format else "normal"
                line, outcome = line_of(kind)
                lines.append(line)
                expected.add(f"{source}:{line_no + i}", outcome)
            messages.append(_message(lines, fmt, source, line_no))
            line_no += size
        # one line per message, with as many huge lines again
        source = f"{fmt}-single.log"
        kinds = ["huge"] * huge_per_format + ["normal"] * (singles - huge_per_format)
        fz.rng.shuffle(kinds)
        for line_no, kind in enumerate(kinds, 1):
            line, outcome = line_of(kind)
            expected.add(f"{source}:{line_no}", outcome)
            messages.append(_message([line], fmt, source, line_no))
    fz.rng.shuffle(messages)
    assert expected.lines == total_lines, expected.lines
    return Traffic(messages, expected)


def _message(lines: list[bytes], fmt: str, source: str, first_line: int) -> tuple[bytes, dict]:
    for line in lines:
        assert b"\n" not in line and line.rstrip(b"\r").strip(), line[:80]
    value = b"\n".join(lines)
    assert len(value) <= MAX_MESSAGE_BYTES, (source, first_line, len(value))
    headers = {"format": fmt.encode(), "source": source.encode(), "line": str(first_line).encode()}
    return value, headers


class ValidStream:
    """An endless known stream of valid lines, Kong and NGINX alternately, as messages."""

    def __init__(self, seed: int, now: datetime, lines_per_message: int = 10) -> None:
        self._fz = Fuzzer(seed, now)
        self._per_message = lines_per_message
        self._line = {"kong": 1, "nginx": 1}
        self._count = 0

    def next_messages(self, n: int, expected: Counter) -> list[tuple[bytes, dict]]:
        """n more messages; their records are added to `expected` (consumer -> events)."""
        messages = []
        for _ in range(n):
            fmt = "kong" if self._count % 2 == 0 else "nginx"
            self._count += 1
            lines = []
            for _ in range(self._per_message):
                if fmt == "kong":
                    record, consumer = self._fz.kong_record()
                    lines.append(_json(record))
                else:
                    line, consumer = self._fz.nginx_valid()
                    lines.append(line)
                expected[consumer] += 1
            messages.append(_message(lines, fmt, f"stream.{fmt}", self._line[fmt]))
            self._line[fmt] += len(lines)
        return messages
