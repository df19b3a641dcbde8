"""Child: the bare-Faust baseline, an agent that only counts records.

    python -m bench.bare_faust <kafka url> <topic> <group> <partitions> <expected> <data dir>

Same Faust settings as our worker where they matter (memory store, web server off, session
timeout 10 s with heartbeats every 2 s, earliest offsets, no leader topic); a record is a
line, so a batched message counts `value.count(b"\\n") + 1`. Prints `bench.tally` lines.
"""

from __future__ import annotations

import sys

import faust

from bench.tally import Tally
from processors.app import kafka_broker_url


def main(argv: list[str]) -> None:
    url, topic_name, group, partitions, expected, data_dir = argv
    app = faust.App(
        group,
        broker=kafka_broker_url(url),
        store="memory://",
        datadir=data_dir,
        topic_partitions=int(partitions),
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
        web_enabled=False,
    )
    topic = app.topic(topic_name, value_type=bytes, value_serializer="raw")
    tally = Tally(int(expected))

    @app.agent(topic)
    async def count(stream: faust.StreamT) -> None:
        async for value in stream:
            tally.add(value.count(b"\n") + 1)

    @app.timer(0.2)
    async def report() -> None:
        tally.report()

    worker = faust.Worker(app, loglevel="warning", quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main(sys.argv[1:])
