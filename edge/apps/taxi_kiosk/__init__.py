"""The ``taxi_kiosk`` kind: a one-tap taxi screen (and big button) for elderly residents without smartphones."""
