"""Log files with known content, for the command-line tests."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path


def nginx_log(path: Path, lines: int, now: datetime, seed: int = 11) -> tuple[Path, dict[str, int]]:
    """An NGINX `combined` access log; returns it and the expected requests per consumer."""
    rng = random.Random(seed)
    expected: Counter = Counter()
    with path.open("w") as out:
        for i in range(lines):
            user = rng.choice(["alice", "bob", "carol", "-"])
            expected["anonymous" if user == "-" else user] += 1
            when = (now - timedelta(seconds=rng.randint(0, 900))).strftime(
                "%d/%b/%Y:%H:%M:%S +0000"
            )
            status = rng.choice([200, 200, 201, 304, 404, 500])
            out.write(
                f'192.0.2.{i % 250 + 1} - {user} [{when}] "GET /api/v1/items/{rng.randint(1, 999)} HTTP/1.1" '
                f'{status} {rng.randint(0, 5000)} "-" "curl/8.5.0"\n'
            )
    return path, dict(expected)
