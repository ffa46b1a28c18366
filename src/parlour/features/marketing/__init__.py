"""Opt-in news by mail, with a one-click unsubscribe that needs no sign-in (P-CNS-5)."""
