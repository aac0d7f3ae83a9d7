"""The pipeline fixtures (relay and worker processes, moto's SES, per-run broker names)."""

from tests.integration.pipeline.conftest import moto_url, pipeline, ses

__all__ = ["moto_url", "pipeline", "ses"]
