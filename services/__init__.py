"""Parley services package."""
