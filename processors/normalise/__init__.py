"""The normalisers: validation, then one canonical text (message), clean characters (content)
and the request's metadata (metadata), before any processor reads the message."""
