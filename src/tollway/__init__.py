"""Tollway: self-hosted API monetization."""

__version__ = "0.1.0"
