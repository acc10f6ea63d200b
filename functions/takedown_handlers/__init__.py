"""Thin Lambda handlers: parse the event, call one domain service, map the result."""
