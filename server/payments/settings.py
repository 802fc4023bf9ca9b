"""``payments`` in the server's YAML: which payment provider, the keys, and what residents may buy."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class SimPaySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    notify_delay_s: float = Field(0.0, ge=0, le=60, description="wait before the simulated provider notifies")
    notify_tries: int = Field(6, ge=1, le=20, description="notifications sent until the server answers success")
    notify_backoff_s: float = Field(0.5, ge=0.01, le=60, description="first wait between tries (doubles)")
    lose_notifications: bool = Field(False, description="send none (tests: the server must find payments by "
                                                        "querying the provider)")


class PaymentSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider: Literal["none", "sim"] = Field(
        "none", description="none: residents cannot pay online (the pages say so); sim: the built-in simulated "
                            "provider (demo, tests). A real provider plugs in as a PaymentProvider.")
    public_url: str | None = Field(None, description="base URL printed in QR codes and given to the provider for "
                                                     "notifications (default: the URL the page was asked on)")
    token_secret: str | None = Field(None, min_length=16, description="HMAC key of the QR tokens (default: "
                                     "token_secret_env, else a key made once and kept in the database)")
    token_secret_env: str = "LINLI_RESIDENT_TOKEN_SECRET"
    notify_secret: str | None = Field(None, min_length=16, description="key the provider signs notifications "
                                      "with (sim: made at start when not given)")
    notify_secret_env: str = "LINLI_PAY_NOTIFY_SECRET"
    start_timeout_s: float = Field(20.0, ge=1, le=600, description="a paid start with no result from the pile "
                                   "in this time is refunded (the start command expires at the same time)")
    query_after_s: float = Field(15.0, ge=0.5, le=3600, description="an order still unpaid this long after it was "
                                 "opened is queried at the provider (and again as often), for a notification that "
                                 "never came")
    order_ttl_s: float = Field(900.0, ge=30, le=86400, description="an unpaid order is closed after this")
    online_within_s: float = Field(120.0, ge=5, le=3600, description="a pile not heard from in this time counts as "
                                   "offline and cannot be paid for")
    full_prepay_fen: int = Field(1000, ge=100, le=100_000, description="paid in advance for 'until full'; the "
                                 "unused part is refunded")
    amounts_fen: list[int] = Field(default_factory=lambda: [200, 500, 1000], min_length=1, max_length=6)
    durations_min: list[int] = Field(default_factory=lambda: [60, 120, 240, 480], min_length=1, max_length=6)
    sim: SimPaySettings = Field(default_factory=SimPaySettings)

    @field_validator("amounts_fen", "durations_min")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if any(x <= 0 or x > 100_000 for x in v):
            raise ValueError("every choice must be above 0 (fen or minutes, at most 100000)")
        return v

    def env_or(self, value: str | None, env: str) -> str | None:
        return value or os.environ.get(env) or None
