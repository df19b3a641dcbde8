"""The results: the machine they were measured on, the targets of issue #3, the table, the JSON.

`results` is one flat dict (the keys of `bench/results/latest.json`); a number that could not
be measured is None and its error is in `errors`. Targets:

- single-line messages: our worker >= 0.8x a bare Faust agent that only counts;
- batched messages: >= 100,000 events/s and >= 0.5x a bare aiokafka consumer that decodes;
- freshness: p99 < 3 s from send to visible;
- memory: worker peak RSS < 1024 MB and RSS growth < 5 % over the soak.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.table import Table

from bench.ui import console

RESULTS = Path(__file__).parent / "results" / "latest.json"


def machine() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "nproc_available": len(os.sched_getaffinity(0)),
        "memory_gb": round(_meminfo_kb("MemTotal") / 1024 / 1024, 1),
        "memory_available_gb_at_start": round(_meminfo_kb("MemAvailable") / 1024 / 1024, 1),
        "python": sys.version.split()[0],
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
        "loadavg_at_start": list(os.getloadavg()),
    }


def _meminfo_kb(key: str) -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def add_ratios(r: dict[str, Any]) -> None:
    r["single_vs_faust"] = ratio(r.get("throughput_single_eps"), r.get("baseline_faust_eps"))
    r["batched_vs_aiokafka"] = ratio(
        r.get("throughput_batched_eps"), r.get("baseline_aiokafka_decode_eps")
    )
    r["scaling_2_workers_ratio"] = ratio(
        r.get("throughput_batched_2_workers_eps"), r.get("throughput_batched_eps")
    )


@dataclass(frozen=True)
class Row:
    label: str
    key: str
    fmt: Callable[[float], str]
    target: str = ""
    ok: Callable[[float], bool] | None = None


def _eps(v: float) -> str:
    return f"{v:,.0f} ev/s"


def _x(v: float) -> str:
    return f"{v:.2f}x"


def _s(v: float) -> str:
    return f"{v:.2f} s"


def _mb(v: float) -> str:
    return f"{v:,.0f} MB"


def _pct(v: float) -> str:
    return f"{v:+.1f} %"


ROWS = (
    Row("our worker, single-line messages", "throughput_single_eps", _eps),
    Row("bare Faust agent, single-line", "baseline_faust_eps", _eps),
    Row("  single vs bare Faust", "single_vs_faust", _x, ">= 0.8x", lambda v: v >= 0.8),
    Row(
        "our worker, batched messages",
        "throughput_batched_eps",
        _eps,
        ">= 100,000 ev/s",
        lambda v: v >= 100_000,
    ),
    Row("bare aiokafka + JSON decode, batched", "baseline_aiokafka_decode_eps", _eps),
    Row("  batched vs aiokafka + decode", "batched_vs_aiokafka", _x, ">= 0.5x", lambda v: v >= 0.5),
    Row("bare Faust agent, batched", "baseline_faust_batched_eps", _eps),
    Row("bare aiokafka + decode, single-line", "baseline_aiokafka_decode_single_eps", _eps),
    Row("2 workers, batched", "throughput_batched_2_workers_eps", _eps),
    Row("  2 workers / 1 worker", "scaling_2_workers_ratio", _x),
    Row("freshness p50", "freshness_p50_s", _s),
    Row("freshness p99", "freshness_p99_s", _s, "< 3 s", lambda v: v < 3),
    Row("worker peak RSS, batched burst", "worker_peak_rss_batched_burst_mb", _mb),
    Row("worker peak RSS (soak)", "worker_peak_rss_mb", _mb, "< 1024 MB", lambda v: v < 1024),
    Row("  RSS growth, 20 % -> end of soak", "soak_rss_growth_pct", _pct, "< 5 %", lambda v: v < 5),
)


def verdicts(r: dict[str, Any]) -> dict[str, str]:
    """PASS / MISS per targeted key; n/a when it was not measured (skipped or failed)."""
    out = {}
    for row in ROWS:
        if row.ok is not None and row.key in r:
            value = r[row.key]
            out[row.key] = "n/a" if value is None else "PASS" if row.ok(value) else "MISS"
    return out


def table(r: dict[str, Any]) -> Table:
    t = Table(title="apim-analytics bench", title_justify="left")
    t.add_column("measurement")
    t.add_column("value", justify="right")
    t.add_column("target")
    t.add_column("")
    checks = verdicts(r)
    for row in ROWS:
        if row.key not in r:
            continue
        value = r[row.key]
        shown = row.fmt(value) if value is not None else "n/a"
        verdict = checks.get(row.key, "")
        style = {"PASS": "green", "MISS": "red", "n/a": "yellow"}.get(verdict, "")
        t.add_row(row.label, shown, row.target, f"[{style}]{verdict}[/{style}]" if style else "")
    return t


def show(r: dict[str, Any]) -> None:
    m = r.get("machine", {})
    console.print()
    console.print(table(r))
    console.print(
        f"[dim]{m.get('cpu_model')} x{m.get('nproc')}, {m.get('memory_gb')} GB, "
        f"Python {m.get('python')}; {r.get('events'):,} events, "
        f"{r.get('batched_lines_per_message', 0):.0f} lines per batched message; "
        f"load average at start {m.get('loadavg_at_start', [0])[0]:.2f}[/dim]"
    )
    labels = {row.key: row.label.strip() for row in ROWS}
    for key in r.get("producer_bound", []):
        console.print(
            f"[yellow]note:[/yellow] {labels.get(key, key)}: the consumer finished within 15 % "
            "of the producer, so the producer and broker set this number (a lower bound)"
        )
    for stage, error in r.get("errors", {}).items():
        console.print(f"[red]{stage} failed:[/red] {error.splitlines()[0]}")


def write(r: dict[str, Any], path: Path = RESULTS) -> None:
    r["timestamp"] = datetime.now(UTC).isoformat(timespec="seconds")
    r["verdicts"] = verdicts(r)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.json")
    tmp.write_text(json.dumps(r, indent=2, sort_keys=False, default=str) + "\n")
    tmp.replace(path)
