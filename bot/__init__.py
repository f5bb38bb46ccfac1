"""Shunter: a GitHub App that reviews, secures and tests pull requests."""

__version__ = "0.1.0"
