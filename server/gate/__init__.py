"""The gate kind on the server: lists (residents, visitors, blacklist, door cards), tariffs and capacity, list sync
to the gates (versioned deltas), passages, parking sessions, payments, door events; API and pages."""
