"""Thin I/O adapters (files, lock, clock); each turns foreign errors into ReconcileError."""
