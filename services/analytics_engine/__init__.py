"""The reference Analytics Engine: Parley's analytics as a side service of its own (a Kafka
consumer in its own group, its own facts, a small HTTP summary); docs/analytics.md."""
