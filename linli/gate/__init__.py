"""What the gate agent and the server share: plate rules, fees, QR tokens and the gate's typed payloads."""
