"""Parley protos package."""
