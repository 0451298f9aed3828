"""Shared fixtures: ``redis_url``, a real redis-server for the Redis state's tests."""

from redis_server import redis_url

__all__ = ["redis_url"]
