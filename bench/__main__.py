"""`python -m bench` (`make bench`): measure the pipeline against the targets of issue #3.

One run, one embedded broker, the same generated messages for every measurement:

 1. throughput of our worker on single-line and on batched messages, and of the baselines
    (a bare Faust agent that counts, a bare aiokafka consumer that decodes JSON) on both;
 2. scaling: batched throughput of 2 workers on the same 4-partition topic vs 1;
 3. freshness: send-to-visible delay of probe lines at half the batched throughput;
 4. memory: worker peak RSS and RSS growth while 10,000 consumers x 500 endpoints are live.

It prints a table with PASS / MISS per target and writes `bench/results/latest.json`
(also after each stage, so an interrupted run keeps what it measured). The issue's full
soak is 30 minutes: `make bench BENCH_ARGS="--soak-seconds 1800"`.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import report, stages, ui, workloads
from bench.harness import Bench

FALLBACK_EPS = 5_000.0
"""Rate for freshness / soak when the batched throughput could not be measured."""
STAGES = ("single", "batched", "baselines", "scaling", "freshness", "soak")


@dataclass(frozen=True)
class Throughput:
    stage: str
    """The `--only` stage it belongs to."""
    name: str
    title: str
    key: str
    """Its key in the results."""
    consumer: str
    """`worker` (ours), `faust` or `aiokafka` (the bare baselines)."""
    shape: str
    """`single` or `batched` messages."""
    workers: int = 1


# In pairs that are compared, one right after the other (the machine may be shared).
THROUGHPUT = (
    Throughput("single", "worker-single", "single-line messages: our worker",
               "throughput_single_eps", "worker", "single"),
    Throughput("baselines", "bare-faust-single", "single-line messages: bare Faust agent",
               "baseline_faust_eps", "faust", "single"),
    Throughput("baselines", "bare-aiokafka-single", "single-line messages: bare aiokafka + decode",
               "baseline_aiokafka_decode_single_eps", "aiokafka", "single"),
    Throughput("batched", "worker-batched", "batched messages: our worker",
               "throughput_batched_eps", "worker", "batched"),
    Throughput("baselines", "bare-aiokafka-batched", "batched messages: bare aiokafka + decode",
               "baseline_aiokafka_decode_eps", "aiokafka", "batched"),
    Throughput("baselines", "bare-faust-batched", "batched messages: bare Faust agent",
               "baseline_faust_batched_eps", "faust", "batched"),
    Throughput("scaling", "worker-batched-2w", "batched messages: 2 workers",
               "throughput_batched_2_workers_eps", "worker", "batched", workers=2),
)  # fmt: skip


def _throughput(
    bench: Bench, spec: Throughput, paths: dict[str, Path], n: int, limits: stages.Limits
) -> dict[str, Any]:
    path = paths[spec.shape]
    if spec.consumer == "worker":
        found = stages.worker_throughput(bench, spec.name, path, n, spec.workers, limits)
        rss = f"; worker peak RSS {found['worker_peak_rss_mb']:,.0f} MB"
    else:
        found = stages.baseline_throughput(bench, spec.name, spec.consumer, path, n, limits)
        rss = ""
    bound = "; producer-bound" if found["producer_bound"] else ""
    ui.detail(
        f"{found['eps']:,.0f} events/s ({found['seconds']:.1f} s; the producer was done after "
        f"{found['producer_seconds']:.1f} s{bound}{rss})"
    )
    return found


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the real pipeline (embedded broker, Faust workers, chDB) "
        "against the targets of issue #3; writes bench/results/latest.json.",
    )
    p.add_argument(
        "--events", type=int, help="simulated Kong lines (default 200000; --quick 20000)"
    )
    p.add_argument(
        "--soak-seconds",
        type=float,
        help="memory soak length (default 60; --quick 20; the issue's full soak is 1800)",
    )
    p.add_argument(
        "--soak-eps",
        type=float,
        help="soak rate in events/s (default: half the batched throughput)",
    )
    p.add_argument(
        "--freshness-seconds", type=float, help="freshness probe length (default 20; --quick 10)"
    )
    p.add_argument(
        "--freshness-load",
        type=float,
        default=0.5,
        help="freshness rate as a share of the batched throughput (default 0.5)",
    )
    p.add_argument("--partitions", type=int, default=4, help="partitions per topic (default 4)")
    p.add_argument(
        "--timeout", type=float, default=900, help="longest wait for one measurement, s (900)"
    )
    p.add_argument(
        "--stall", type=float, default=120, help="give up after this long without progress, s (120)"
    )
    p.add_argument(
        "--quick", action="store_true", help="a small run to check that everything works"
    )
    p.add_argument(
        "--only",
        default=",".join(STAGES),
        help=f"comma-separated stages to run (default all: {','.join(STAGES)})",
    )
    p.add_argument("--seed", type=int, default=42, help="simulator seed (42)")
    p.add_argument("--output", type=Path, default=report.RESULTS, help="results JSON path")
    p.add_argument("--keep-temp", action="store_true", help="keep the temporary directory (logs)")
    args = p.parse_args(argv)
    args.events = args.events or (20_000 if args.quick else 200_000)
    args.soak_seconds = args.soak_seconds or (20.0 if args.quick else 60.0)
    args.freshness_seconds = args.freshness_seconds or (10.0 if args.quick else 20.0)
    if args.events < 1000:
        p.error("--events: at least 1000")
    if min(args.soak_seconds, args.freshness_seconds, args.timeout, args.stall) <= 0:
        p.error("durations must be positive")
    if args.partitions < 1 or (args.soak_eps is not None and args.soak_eps <= 0):
        p.error("--partitions and --soak-eps must be positive")
    args.only = {s.strip() for s in args.only.split(",") if s.strip()}
    if unknown := args.only - set(STAGES):
        p.error(f"unknown stage(s) {', '.join(sorted(unknown))}; known: {', '.join(STAGES)}")
    return args


class _Runner:
    """Runs the stages, records numbers and errors, and saves the results after each."""

    def __init__(self, args: argparse.Namespace, results: dict[str, Any]) -> None:
        self.args = args
        self.results = results
        self.limits = stages.Limits(args.timeout, args.stall)

    def attempt(
        self, stage: str, title: str, fn: Callable[[], dict[str, Any]]
    ) -> dict[str, Any] | None:
        """Run one stage; keep its numbers under `details`, or its error under `errors`."""
        ui.step(f"[bold]{title}[/bold]")
        try:
            found = fn()
            self.results["details"][stage] = found
            return found
        except Exception as exc:  # one failed stage must not cost the others
            message = str(exc) or repr(exc)
            self.results["errors"][stage] = message
            ui.step(f"[red]{stage} failed:[/red] {message.splitlines()[0]}")
            ui.detail("(the full message is in the results JSON)")
            return None
        finally:
            self.save()

    def save(self) -> None:
        report.add_ratios(self.results)
        report.write(self.results, self.args.output)


def run(args: argparse.Namespace, root: Path, results: dict[str, Any]) -> None:
    r = _Runner(args, results)
    limits, n = r.limits, args.events

    ui.step(f"[bold]generating {n:,} simulated Kong lines[/bold] (last hour, seed {args.seed})")
    lines = workloads.simulated_lines(n, args.seed)
    single_path, batched_path = root / "single.msgpack", root / "batched.msgpack"
    workloads.save(workloads.single_messages(lines), single_path)
    batched = workloads.batched_messages(lines)
    workloads.save(batched, batched_path)
    results["batched_messages"] = len(batched)
    results["batched_lines_per_message"] = n / len(batched)
    results["mean_line_bytes"] = sum(map(len, lines)) / n
    ui.detail(
        f"{n:,} single-line messages; {len(batched):,} batched messages "
        f"({n / len(batched):.0f} lines each, LineSender's packing)"
    )
    del lines, batched

    ui.step("starting the embedded broker")
    with Bench(root / "bench", args.partitions) as bench:
        paths = {"single": single_path, "batched": batched_path}
        for spec in THROUGHPUT:
            if spec.stage not in args.only:
                continue
            found = r.attempt(
                spec.name, spec.title, lambda s=spec: _throughput(bench, s, paths, n, limits)
            )
            results[spec.key] = found["eps"] if found else None
            if found and found["producer_bound"]:
                results["producer_bound"].append(spec.key)
        if found := results["details"].get("worker-batched"):
            results["worker_peak_rss_batched_burst_mb"] = found["worker_peak_rss_mb"]

        measured = results.get("throughput_batched_eps") or FALLBACK_EPS
        if "freshness" in args.only:
            rate = measured * args.freshness_load
            found = r.attempt(
                "freshness",
                "freshness: probes in batched traffic",
                lambda: stages.freshness(bench, batched_path, rate, args.freshness_seconds, limits),
            )
            if found:
                results["freshness_p50_s"] = found["p50_s"]
                results["freshness_p99_s"] = found["p99_s"]
                ui.detail(
                    f"p50 {_opt(found['p50_s'])}, p99 {_opt(found['p99_s'])}, "
                    f"max {_opt(found['max_s'])} "
                    f"({found['probes_seen']} of {found['probes_sent']} probes seen)"
                )
        if "soak" in args.only:
            rate = args.soak_eps or measured * 0.5
            found = r.attempt(
                "soak",
                f"memory soak: {args.soak_seconds:.0f} s",
                lambda: stages.memory_soak(bench, rate, args.soak_seconds, limits),
            )
            if found:
                results["worker_peak_rss_mb"] = found["peak_rss_mb"]
                results["soak_rss_growth_pct"] = found["growth_pct"]
                ui.detail(
                    f"peak {found['peak_rss_mb']:,.0f} MB; {found['rss_at_20pct_mb']:,.0f} MB "
                    f"after 20 %, {found['rss_at_end_mb']:,.0f} MB at the end; "
                    f"{found['events_counted_at_end']:,} of {found['events_sent']:,} events "
                    "counted when the soak ended"
                )
        ui.step("stopping everything")


def _opt(v: float | None) -> str:
    return "n/a (probes missing)" if v is None else f"{v:.2f} s"


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` cleans up like Ctrl-C
    results: dict[str, Any] = {
        "machine": report.machine(),
        "events": args.events,
        "config": {
            "quick": args.quick,
            "partitions": args.partitions,
            "soak_seconds": args.soak_seconds,
            "freshness_seconds": args.freshness_seconds,
            "freshness_load": args.freshness_load,
            "seed": args.seed,
            "stages": sorted(args.only),
        },
        "errors": {},
        "details": {},
        "producer_bound": [],
    }
    root = Path(tempfile.mkdtemp(prefix="apim-bench-"))
    started = time.monotonic()
    code = 0
    try:
        run(args, root, results)
    except KeyboardInterrupt:
        ui.step("[red]interrupted[/red]: stopping every process")
        results["interrupted"] = True
        code = 130
    finally:
        results["wall_seconds"] = time.monotonic() - started
        if args.keep_temp:
            ui.detail(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
        report.add_ratios(results)
        report.write(results, args.output)
    report.show(results)
    ui.detail(f"results: {args.output}")
    if results["errors"] and not code:
        code = 1
    return code


if __name__ == "__main__":
    raise SystemExit(main())
