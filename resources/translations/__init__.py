"""Translations of the window: the zh_CN .ts (source of truth) and its compiled .qm (both committed)."""
