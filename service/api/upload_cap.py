"""The upload cap as refusals state it: in MiB, as a person sets and reads it, and by the
setting's name, not as a byte count no one recognises (`10551296`)."""

from __future__ import annotations


def size(n_bytes: int) -> str:
    """A cap as people read it: 10485760 -> `10 MiB`, 65536 -> `64 KiB`."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.3g} {unit}"
    return f"{n_bytes} bytes"


def over_cap(what: str, cap_bytes: int) -> str:
    """`the body is over the 10 MiB cap (max_upload_bytes = 10485760 bytes)`."""
    return f"{what} is over the {size(cap_bytes)} cap (max_upload_bytes = {cap_bytes} bytes)"
