"""Consent, cookies, restriction and objection, and the one processing gate."""
