"""Integrations with frameworks; each imports its framework, so none is imported by the core."""
