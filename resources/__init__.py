"""Data shipped with the workstation: regulatory lists, demo data, translations."""

from __future__ import annotations

from importlib.resources import files


def read_resource(*parts: str) -> bytes:
    """The bytes of a shipped data file, e.g. ``read_resource("regulatory", "special_drugs.csv")``.

    Read through importlib.resources so it works from a source tree, an installed wheel or a zip alike.
    """
    if not parts:
        raise ValueError("read_resource needs a path inside resources/")
    for part in parts:
        # Each part is one path component: a caller passing a user-supplied name must not escape the package.
        if not part or part in {".", ".."} or "/" in part or "\\" in part:
            raise ValueError(f"not a plain path component: {part!r}")
    return files("resources").joinpath(*parts).read_bytes()
