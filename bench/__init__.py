"""Benchmarks of the real pipeline (issue #3): `python -m bench` / `make bench`.

Everything runs on the real parts, in one run, on the same generated messages: the embedded
Tansu broker (`apim.broker.EmbeddedBroker`), real `python -m processors` worker processes,
chDB owned by a separate process and served to the workers through `WarehouseService`.

Modules: `harness` (broker, warehouse owner, workers, waits), `workloads` (messages),
`producer` / `bare_faust` / `bare_aiokafka` / `warehouse_owner` (child processes; the
baselines report through `tally`), `stages` (the measurements), `report` (targets, table,
JSON), `procs` (child plumbing), `ui` (progress lines).
"""
