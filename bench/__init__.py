"""Parley's benchmark suite (``make bench``): each scenario against a baseline measured in the
same run, on the real local services. Never run by the tests or CI."""
