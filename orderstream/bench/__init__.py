"""`orderstream bench`: a load test of a running system, and a raw-Kafka baseline to judge it by."""
