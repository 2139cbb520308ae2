"""Test helpers (in-process moto is patched by tests/conftest.py, as the local stack patches it)."""
