"""Child: the aiokafka baseline, a bare consumer that decodes every record's JSON and counts.

    python -m bench.bare_aiokafka <kafka url> <topic> <group> <expected>

One `msgspec.json.decode` per line (untyped, so it is the floor of any parser), no Faust,
auto-commit. Prints `bench.tally` lines.
"""

from __future__ import annotations

import asyncio
import sys

import msgspec
from aiokafka import AIOKafkaConsumer

from apim.kafka import bootstrap_servers
from bench.tally import Tally


async def main(argv: list[str]) -> None:
    url, topic, group, expected = argv
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap_servers(url),
        group_id=group,
        auto_offset_reset="earliest",
        session_timeout_ms=10_000,
        heartbeat_interval_ms=2_000,
    )
    decode = msgspec.json.decode
    tally = Tally(int(expected))
    await consumer.start()
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    n = 0
                    for line in (record.value or b"").split(b"\n"):
                        decode(line)
                        n += 1
                    tally.add(n)
            tally.report()
    finally:
        await consumer.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
