"""Parlour: a self-hostable communications platform that keeps its privacy promises in code."""

__version__ = "0.1.0"
