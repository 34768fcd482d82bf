"""Secrets (database password, API tokens) in the OS keyring, and nowhere else."""

from __future__ import annotations

import keyring
import keyring.backend
import keyring.errors

SERVICE = "rxws"


class SecretStoreError(Exception):
    """No secure keyring is available, or it refused the operation."""


def backend_description() -> str:
    kr = keyring.get_keyring()
    return f"{type(kr).__module__}.{type(kr).__name__}"


def secure_backend_available() -> bool:
    """False for the 'fail' backend and for plain-text or merely obfuscated file backends."""
    kr = keyring.get_keyring()
    module = type(kr).__module__
    if module.startswith("keyring.backends.fail") or module.startswith("keyring.backends.null"):
        return False
    if module.startswith("keyrings.alt"):
        # keyrings.alt's file backends are plain text or base64; only its encrypted one is acceptable.
        return type(kr).__name__ == "EncryptedKeyring"
    priority = getattr(kr, "priority", 0)
    return bool(priority and priority > 0)


def get_secret(name: str) -> str | None:
    """The secret stored under ``name``, or None when there is none or no keyring at all."""
    try:
        return keyring.get_password(SERVICE, name)
    except keyring.errors.KeyringError:
        return None


def set_secret(name: str, value: str) -> None:
    """Store a secret; refuses (SecretStoreError) rather than fall back to plain text."""
    if not secure_backend_available():
        raise SecretStoreError(
            f"没有安全的系统密钥环 / no secure OS keyring is available (backend: {backend_description()}). "
            "Install and unlock one (GNOME Keyring / KWallet via Secret Service, macOS Keychain, "
            "Windows Credential Manager); the workstation will not store secrets in plain text."
        )
    try:
        keyring.set_password(SERVICE, name, value)
    except keyring.errors.KeyringError as exc:
        raise SecretStoreError(f"the keyring refused to store {name!r}: {exc}") from exc


def delete_secret(name: str) -> None:
    try:
        keyring.delete_password(SERVICE, name)
    except keyring.errors.PasswordDeleteError:
        pass
    except keyring.errors.KeyringError as exc:
        raise SecretStoreError(f"the keyring refused to delete {name!r}: {exc}") from exc


def database_secret_name(user: str | None, host: str | None, port: int | None, database: str | None) -> str:
    """The keyring entry for a PostgreSQL login."""
    return f"database:{user or ''}@{host or 'localhost'}:{port or 5432}/{database or ''}"
