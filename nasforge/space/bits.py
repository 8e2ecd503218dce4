"""Bit-widths a quantization decision may take (torch-free: listing spaces imports no torch)."""

from __future__ import annotations

FLOAT_BITS = 32
#: bit-widths a decision may take: 2..8 (an 8-bit container holds them) and 32 (float)
VALID_BITS = (2, 3, 4, 5, 6, 7, 8, FLOAT_BITS)


def check_bits(bits: int, what: str) -> int:
    """``bits`` if it is a valid bit-width, else a ValueError naming ``what``."""
    if isinstance(bits, bool) or not isinstance(bits, int) or bits not in VALID_BITS:
        raise ValueError(f"{what}: {bits!r} is not a supported bit-width; valid: {list(VALID_BITS)}")
    return bits
