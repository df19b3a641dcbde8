"""The consumer registry: organisations, consumers, applications, credentials (keyed hashes
only) and plans, which the enrichment step resolves every event's caller against."""
