"""The built-in ``probe`` kind: one input (a button) and one relay, for commissioning an agent and for tests."""
