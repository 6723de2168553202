"""Thin I/O adapters (files, git, lock, clock, watching); each turns foreign errors into ours."""
