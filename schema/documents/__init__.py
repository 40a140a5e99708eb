"""Persisted queries: trusted documents (manifest.py) and the documents a process answers
by id (registry.py). The HTTP side is app/persisted.py."""
