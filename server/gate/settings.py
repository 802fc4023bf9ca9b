"""``kinds.gate`` in the server's YAML: list sync timing and the payment provider's callback secret."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from server.settings import SettingsError


class GateServerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sync_interval_s: float = Field(10.0, ge=0.05, le=3600, description="how often gates' list versions are checked")
    sync_retry_s: float = Field(30.0, ge=0.1, le=3600,
                                description="a sync command unanswered this long is sent again")
    command_ttl_s: float = Field(120.0, ge=1, le=86400, description="a sync / payment command expires after this")
    max_entries_per_command: int = Field(500, ge=1, le=1000, description="bigger deltas go in several commands")
    payment_secret: str | None = Field(None, min_length=16, description="HMAC key of the payment callback "
                                       "(X-Linli-Signature: hex HMAC-SHA256 of the body); or payment_secret_env")
    payment_secret_env: str = Field("LINLI_GATE_PAYMENT_SECRET", description="environment variable with the key")

    def secret(self) -> str | None:
        return self.payment_secret or os.environ.get(self.payment_secret_env) or None


def gate_settings(kinds: dict[str, dict[str, Any]], source: Path | str = "settings") -> GateServerSettings:
    try:
        return GateServerSettings.model_validate(kinds.get("gate", {}))
    except ValidationError as exc:
        first = exc.errors()[0]
        raise SettingsError(f"{source}: kinds.gate.{'.'.join(str(x) for x in first['loc'])}: {first['msg']}") \
            from None
