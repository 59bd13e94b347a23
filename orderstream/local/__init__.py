"""Tooling for running orderstream on one machine: a real Kafka broker and the six workers."""
