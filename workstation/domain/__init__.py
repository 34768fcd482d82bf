"""The domain: immutable facts about prescriptions, drugs and the audit trail, free of I/O."""
