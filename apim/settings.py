"""One settings object per process, read from the environment once at start-up.

Every variable is `APIM_<SECTION>_<FIELD>`, e.g. `APIM_KAFKA_URL`, `APIM_CLICKHOUSE_URL`,
`APIM_WORKER_BATCH_MAX`. Library code receives a `Settings`; it never reads `os.environ`.
`load()` reports every invalid variable at once, one line each, naming the variable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "APIM_"


class ConfigError(Exception):
    """A setting is missing or invalid; the message names the variable and the fix."""


class KafkaSettings(BaseModel):
    url: str | None = Field(
        None, description="Kafka bootstrap servers (kafka://host:9092,host2:9092). Unset: embedded"
    )
    raw_topic: str = Field("apim.raw-logs", description="topic the shippers write log lines to")
    dlq_topic: str = Field("apim.dead-letters", description="malformed lines, with their reason")
    partitions: int = Field(4, ge=1, le=1024, description="partitions of the topics we create")
    gateway_topics: dict[str, str] = Field(
        default_factory=dict,
        description="topics gateways write to themselves (Kong kafka-log, APISIX kafka-logger, "
        'Tyk Kafka pump), each with its format, as JSON: {"kong-log": "kong"}',
    )


class ClickHouseSettings(BaseModel):
    url: str | None = Field(
        None,
        description="http(s)://host:8123/database or chdb:///abs/dir. Unset: chdb:// in the data dir",
    )
    username: str = Field("default", description="ClickHouse user (server only)")
    password: SecretStr = Field(SecretStr(""), description="ClickHouse password (server only)")
    raw_ttl_days: int = Field(30, ge=1, le=3650, description="days raw events are kept")


class WorkerSettings(BaseModel):
    group: str = Field("apim-processors", description="Faust app id and Kafka consumer group")
    batch_max: int = Field(2000, ge=1, le=1_000_000, description="Kafka messages per sink batch")
    batch_within_s: float = Field(0.5, gt=0, le=60, description="longest wait to fill a batch")
    session_timeout_s: float = Field(
        10.0,
        ge=3,
        le=300,
        description="Kafka group session timeout; a dead worker's partitions "
        "move after this long (the embedded broker also waits half of it before a first assignment)",
    )
    log_level: Literal["debug", "info", "warn", "error"] = Field(
        "info", description="worker log level"
    )


class DashboardSettings(BaseModel):
    host: str = Field("127.0.0.1", description="address the dashboard listens on")
    port: int = Field(8050, ge=0, le=65535, description="dashboard port (0: any free port)")


class ApiSettings(BaseModel):
    host: str = Field("127.0.0.1", description="address of the embedded stack's warehouse API")
    port: int = Field(0, ge=0, le=65535, description="warehouse API port (0: any free port)")


class ReceiverSettings(BaseModel):
    host: str = Field("127.0.0.1", description="address `apim receive` listens on (HTTP, syslog)")
    http_port: int = Field(8780, ge=0, le=65535, description="HTTP log receiver port")
    token: SecretStr | None = Field(
        None, description="bearer token HTTP senders must present; required off loopback"
    )
    max_body_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="largest HTTP body, also after gunzip (413 above)"
    )
    inflight_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, description="HTTP bodies being shipped at once (429 above)"
    )
    syslog_max_frame_bytes: int = Field(
        64 * 1024, ge=1024, description="longest syslog message; longer ones are dead-lettered"
    )
    syslog_pending_bytes: int = Field(
        32 * 1024 * 1024, ge=1024, description="syslog bytes waiting for Kafka before pushing back"
    )


class MetricsSettings(BaseModel):
    enabled: bool = Field(True, description="serve Prometheus metrics at /metrics in every process")
    host: str = Field("127.0.0.1", description="address the /metrics endpoints listen on")
    port: int = Field(
        0,
        ge=0,
        le=65535,
        description="/metrics port (0: any free port; each process writes its URL to "
        "<data dir>/metrics/)",
    )


class CatalogSettings(BaseModel):
    file: Path | None = Field(
        None, description="API catalog (YAML: APIs, base paths, versions, OpenAPI documents)"
    )


class RegistrySettings(BaseModel):
    topic: str = Field("apim.registry", description="compacted topic of consumer registry changes")
    host: str = Field("127.0.0.1", description="address the registry HTTP API listens on")
    port: int = Field(8781, ge=0, le=65535, description="registry HTTP API port (0: any free port)")
    token: SecretStr | None = Field(
        None, description="bearer token the registry HTTP API requires; required off loopback"
    )


class PrivacySettings(BaseModel):
    ip: Literal["keep", "truncate", "hash", "drop"] = Field(
        "truncate", description="client IPs: keep, truncate (IPv4 /24, IPv6 /48), hash or drop"
    )
    drop_headers: str = Field(
        "", description="comma-separated request headers dropped besides the credential ones"
    )
    drop_query: str = Field(
        "", description="comma-separated query parameters dropped besides the credential ones"
    )


class SecuritySettings(BaseModel):
    hash_secret: SecretStr | None = Field(
        None, description="key for hashing credentials (HMAC-SHA256); required in production"
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="ignore",
    )

    mode: Literal["embedded", "production"] = Field(
        "embedded", description="production refuses to start without a hash secret"
    )
    data_dir: Path = Field(Path("data"), description="where the embedded stack keeps its state")
    kafka: KafkaSettings = KafkaSettings()
    clickhouse: ClickHouseSettings = ClickHouseSettings()
    worker: WorkerSettings = WorkerSettings()
    dashboard: DashboardSettings = DashboardSettings()
    api: ApiSettings = ApiSettings()
    receiver: ReceiverSettings = ReceiverSettings()
    metrics: MetricsSettings = MetricsSettings()
    catalog: CatalogSettings = CatalogSettings()
    registry: RegistrySettings = RegistrySettings()
    privacy: PrivacySettings = PrivacySettings()
    security: SecuritySettings = SecuritySettings()

    @property
    def chdb_dir(self) -> Path:
        return (self.data_dir / "warehouse").resolve()

    @property
    def clickhouse_url(self) -> str:
        return self.clickhouse.url or f"chdb://{self.chdb_dir}"


def load(**overrides: object) -> Settings:
    """Read the environment (plus explicit overrides) and validate it, all problems at once."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    if settings.mode == "production" and settings.security.hash_secret is None:
        raise ConfigError(
            f"{ENV_PREFIX}SECURITY_HASH_SECRET is not set: production mode needs a secret to hash "
            "credentials with; set it to a long random string (e.g. `openssl rand -hex 32`)"
        )
    return settings


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        variable = ENV_PREFIX + "_".join(str(part) for part in error["loc"]).upper()
        lines.append(f"{variable}: {error['msg']} (got {error.get('input')!r})")
    return "\n".join(lines)


def env_names() -> list[str]:
    """Every environment variable the settings read, for docs and the compose-file test."""
    names = []
    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names += [f"{ENV_PREFIX}{name}_{sub}".upper() for sub in annotation.model_fields]
        else:
            names.append(f"{ENV_PREFIX}{name}".upper())
    return names
