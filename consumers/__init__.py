"""Parley's event consumers: ``parley consume <handler>`` reads CloudEvents back from Kafka.

Where it stands: a layer of its own beside ``ingress`` (``cli > ingress | consumers > tasks >
storage``). A consumer is a worker kind like a Celery worker — a long-running process the console
starts, fed by a broker, writing through ``storage`` — and, like the ingress, it hands work to
``tasks`` (the webhooks handler queues its deliveries there), so it stands above them; nothing
in ``tasks`` or below may know that events are read back. It is not a ``services/`` side
service: handlers are the platform's own code and use its storage as the pipeline does.

Errors::

    ParleyError
    └── ConsumerError          the consumer cannot go on (consumers.errors)
        ├── UnknownHandler     no handler of that name in the registry
        └── DeadLetterFailed   Kafka did not store an event parked on the dead-letter topic
"""
