"""Benchmarks that place real calls through the sandbox Asterisk (see README.md)."""
