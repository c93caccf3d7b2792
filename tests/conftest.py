"""Fixtures shared by every tier: the serving world and its clients (tests/support/serving_fixtures.py)."""

pytest_plugins = ["tests.support.serving_fixtures"]
