"""Use cases: each takes primitives and a unit of work and returns plain values."""
