"""Enrichment: what a parsed event means to the business. API, version and endpoint template
from the API catalog (OpenAPI), client family and country, and the privacy rules applied
before anything is stored."""
