"""The statistics service's configuration: environment variables only (see .env.example)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting of the statistics service; the env var is the upper-case field name."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    aws_endpoint_url: str | None = None
    aws_region: str = "us-east-1"
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None

    # Table names are "<prefix>page-stats-<generation>" and "<prefix>stats-meta" (which points
    # at the active generation).
    stats_table_prefix: str = "innotter-"
    stats_meta_refresh_seconds: float = Field(default=1.0, gt=0)
    stats_daily_days: int = Field(default=366, gt=0, le=3660)

    rabbitmq_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    events_exchange: str = "events"
    events_queue_stats: str = "stats.events"
    # The largest batch: at least what arrives between two batches spaced by the write budget
    # (STATS_MAX_BATCH_SPACING_SECONDS at the rate of events), else full batches go out early
    # and the writes grow with the pages again (bench/writes/RESULTS.md).
    stats_prefetch: int = Field(default=1000, gt=0, le=10000)
    # Under load a batch starts at least this long after the previous one (sooner when full).
    stats_batch_interval_seconds: float = Field(default=0.1, ge=0, le=10)
    # Under load, batches are also spaced so that about this many item writes go out a second
    # (each page a batch touches is a write): the cost stays flat as more pages are written.
    stats_writes_per_second: float = Field(default=40.0, gt=0)
    # ... but never further apart than this: beyond WRITES_PER_SECOND x this many pages written
    # at once the writes grow with the pages again, and the figures stay this fresh.
    stats_max_batch_spacing_seconds: float = Field(default=2.0, gt=0, le=60)

    jwt_public_key: str = ""
    jwt_public_key_file: Path = Path("var/keys/jwt_public.pem")
    jwt_issuer: str = "innotter"
    jwt_kid: str = ""
    # The core's access-token lifetime (the same variable): a block is remembered this long,
    # plus a margin, after which every token it refuses has expired anyway.
    jwt_access_ttl_seconds: int = Field(default=300, gt=0)
    # How long a user's block state is cached per API process: a block is honoured within this.
    stats_revocation_cache_seconds: float = Field(default=1.0, ge=0, le=60)

    @field_validator("aws_endpoint_url", "aws_access_key_id", "aws_secret_access_key", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()
