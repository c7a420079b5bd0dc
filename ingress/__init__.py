"""Parley ingress package."""
