"""The enrichment step: a parsed event completed with what it means to the business.

In order: the API catalog names the API, version and endpoint template (headers and query
are read before the privacy rules drop anything); the consumer registry names the caller,
its application, organisation and plan; the user agent gives the client family, OS and
SDK; the client IP gives the country, and is then truncated or hashed; configured headers
and query parameters are dropped. The result depends only on the event, the catalog and
the registry as they are, so a replayed event gets the same keys unless the registry
changed in between (see "Consumer registry" in the README).
"""

from __future__ import annotations

from collections.abc import Callable

from msgspec.structs import replace

from apim.event import AccessEvent
from processors.enrichment.apis import ApiCatalog
from processors.enrichment.clients import client_of, country_of
from processors.enrichment.privacy import PrivacyRules, protect_ip
from processors.registry.registry import Registry


class Enricher:
    def __init__(
        self,
        catalog: ApiCatalog,
        registry: Registry,
        privacy: PrivacyRules,
        hash_value: Callable[[str], str],
    ) -> None:
        self.catalog = catalog
        self.registry = registry
        self.privacy = privacy
        self._hash = hash_value

    @classmethod
    def default(cls, hash_value: Callable[[str], str]) -> Enricher:
        """No catalog, an empty registry, the default privacy rules."""
        return cls(ApiCatalog.empty(), Registry(), PrivacyRules(), hash_value)

    def enrich(self, e: AccessEvent) -> AccessEvent:
        match = self.catalog.match(e.api, e.method, e.path, e.query, e.headers)
        who = self.registry.resolve(e.consumer, e.application, e.credential_hash)
        client = client_of(e.user_agent)
        return replace(
            e,
            api=match.api,
            api_version=match.version,
            endpoint=match.endpoint,
            operation_id=match.operation_id,
            spec=match.spec,
            consumer=who.consumer,
            application=who.application,
            organisation=who.organisation,
            plan=who.plan,
            country=country_of(e.client_ip),
            client_ip=protect_ip(e.client_ip, self.privacy.ip_mode, self._hash),
            query=self.privacy.query(e.query),
            headers=self.privacy.headers(e.headers),
            client_family=client.family,
            client_os=client.os,
            sdk=client.sdk,
        )

    def redact(self, record: str) -> str:
        """A dead letter's text without the values of the dropped fields (best effort: the
        record could not be parsed, so its credentials could not be hashed)."""
        return self.privacy.redact(record)
