"""The core every stage shares: the canonical access event, settings, logging, and the `apim` CLI.

Stages (`ingest`, `processors`, `warehouse`, `dashboards`) import `apim.event` and
`apim.settings`; only `apim.cli` and `apim.stack` import the stages, to wire them together.
"""
