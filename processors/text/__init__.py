"""The text processors: language, entities, sentiment and safety (``docs/processing.md``)."""
