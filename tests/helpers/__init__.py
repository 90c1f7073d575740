"""Helpers the test tiers share: project copies and stage runs, DVC repos, the import graph,
and the fixtures several folders use (a throw-away PostgreSQL, a headless Chromium)."""
