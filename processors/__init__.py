"""The processors stage: the Faust worker that turns raw log lines into counted usage.

Pure parts (parsers, normalize, aggregate, pipeline) compute; `agents` orchestrates them on
Kafka; `sink` writes to the warehouse. Start a worker with `python -m processors`.
"""
