"""Parley tasks package."""
