"""Telemetry: records, segments, rotation, the key index, applied records by key and time."""
