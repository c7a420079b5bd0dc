"""The console: ``parley`` and its subcommands.

The roof over every layer: it may import anything, and nothing imports it.
"""
