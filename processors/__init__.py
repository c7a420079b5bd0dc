"""Parley processors package."""
