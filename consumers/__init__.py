"""Parley's event consumers: ``parley consume <handler>`` reads CloudEvents back from Kafka.

Where it stands: a layer of its own beside ``tasks`` (``cli > ingress > tasks | consumers >
storage``). A consumer is a worker kind like a Celery worker — a long-running process the console
starts, fed by a broker, writing through ``storage`` — so it sits at the workers' height; it is
independent of ``tasks`` (neither imports the other), since events are the pipeline's output,
never its input, and nothing below it (storage, core) may know that events are read back.
It is not a ``services/`` side service: handlers are the platform's own code and use its
storage as the pipeline does.

Errors::

    ParleyError
    └── ConsumerError          the consumer cannot go on (consumers.errors)
        ├── UnknownHandler     no handler of that name in the registry
        └── DeadLetterFailed   Kafka did not store an event parked on the dead-letter topic
"""
