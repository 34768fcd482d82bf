"""处方审核工作站 — the pharmacist prescription-review workstation (domain, adapters, services)."""

__version__ = "0.1.0"
