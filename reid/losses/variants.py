"""The names of the PNP variants (kept free of torch so that configs can validate them cheaply)."""

from __future__ import annotations

# Canonical variant names (pytorch-metric-learning's) and the paper's spelling of each.
VARIANTS: tuple[str, ...] = ("O", "Ds", "Dq", "Iu", "Ib")
PAPER_NAMES: dict[str, str] = {
    "PNP-O": "O",
    "PNP-D_s": "Ds",
    "PNP-D_q": "Dq",
    "PNP-I_u": "Iu",
    "PNP-I_b": "Ib",
}


def canonical_variant(variant: str) -> str:
    """Map ``"Dq"`` or ``"PNP-D_q"`` to ``"Dq"``; raise ``ValueError`` naming the valid spellings otherwise."""
    if variant in VARIANTS:
        return variant
    if variant in PAPER_NAMES:
        return PAPER_NAMES[variant]
    valid = ", ".join([*VARIANTS, *PAPER_NAMES])
    raise ValueError(f"unknown PNP variant {variant!r}; valid names: {valid}")
