"""Residents' and payment routes that anyone may use without an account, public by design, each with why that is
safe. ``server.security.scope.PUBLIC`` includes them (the route-table test allow-lists them from there); no
imports here, so the security module can read it without loading the pages."""

from __future__ import annotations

PUBLIC_BY_DESIGN: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/payments/notify/{provider}"): "payment provider's asynchronous notification; accepted only "
                                                    "when signed with the provider's key (HMAC, replay window)",
    ("GET", "/pay/sim/{prepay_id}"): "the simulated provider's cashier page (stands for the platform's own page); "
                                     "reached only by an unguessable prepay id",
    ("POST", "/pay/sim/{prepay_id}/confirm"): "the simulated provider's pay button; unguessable prepay id",
    ("GET", "/r/c/{token}"): "a port's page from its QR code; the token is HMAC-signed (site, pile, port)",
    ("POST", "/r/c/{token}/pay"): "opens a payment for the signed port; nothing starts before the provider's "
                                  "signed notification",
    ("GET", "/r/g/{token}"): "an exit lane's page from its QR code; the token is HMAC-signed (site, gate, lane)",
    ("POST", "/r/g/{token}/pay"): "opens a payment of the fee due at the signed lane",
    ("GET", "/r/o/{key}"): "the resident's own order; the key is a 192-bit random value given only to the payer",
    ("GET", "/r/o/{key}/live.json"): "live values of the resident's own order (same key)",
    ("POST", "/r/o/{key}/stop"): "stops only the port running this order (same key; the pile checks the order)",
}
