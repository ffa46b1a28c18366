"""Durable jobs: a table of work, leased by workers, retried with backoff."""
