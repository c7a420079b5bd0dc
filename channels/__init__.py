"""Parley channels package."""
