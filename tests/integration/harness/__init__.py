"""Mailyard integration-test harness.

Starts throwaway PostgreSQL, Redis, a DNS server, an SMTP sink and the five
Mailyard services on free loopback ports under one temporary directory, and
offers a `Stack` object the tests drive (see stack.py).
"""
from .util import wait_until, free_port, unique  # noqa: F401
from .stack import Stack, StackConfig  # noqa: F401
