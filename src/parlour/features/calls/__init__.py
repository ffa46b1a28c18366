"""Calls: signalling state, call detail records and the call API."""
