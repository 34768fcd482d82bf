"""Adapters to the outside world: database, HTTP, keyring, file system and cryptography."""
