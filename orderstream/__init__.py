"""orderstream: an actor-based order system on Faust and Kafka."""

__version__ = "0.1.0"
