"""Parley storage package."""
