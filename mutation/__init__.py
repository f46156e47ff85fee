"""Mutation testing support (``make mutation``); never imported by the library or its handlers."""
