"""What the baseline children print: `count <n> <monotonic>` as they go, `done <n> <t>` at the end.

`t` in `done` is the monotonic time at which the record that reached `expected` was counted.
"""

from __future__ import annotations

import time

PRINT_EVERY_S = 0.2


class Tally:
    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.n = 0
        self._printed_n = -1
        self._printed_at = 0.0
        self._done = False

    def add(self, records: int) -> None:
        self.n += records
        now = time.monotonic()
        if not self._done and self.n >= self.expected:
            self._done = True
            print(f"done {self.n} {now}", flush=True)
        elif now - self._printed_at >= PRINT_EVERY_S:
            self.report(now)

    def report(self, now: float | None = None) -> None:
        """Print the count if it changed (also called from a timer when records stop)."""
        if self.n != self._printed_n:
            now = time.monotonic() if now is None else now
            self._printed_n, self._printed_at = self.n, now
            print(f"count {self.n} {now}", flush=True)
