"""Residents' pages (扫码充电, parking fee at the exit): served by the server to any phone, no app and no account,
Chinese first. Reached through signed QR codes (:mod:`server.payments.tokens`) and unguessable order links."""
