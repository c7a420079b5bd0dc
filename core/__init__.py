"""Parley core package."""
