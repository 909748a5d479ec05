"""The unified social credit code of an organisation (GB 32100-2015).

Eighteen characters from a 31-character alphabet (the digits and the capital
letters without I, O, Z, S and V, which read like digits):

====  ===========================================================
1     registration authority (9: market regulation, 5: civil affairs, …)
2     organisation category under that authority
3-8   administrative division code of the registering office (digits)
9-17  organisation code (GB 11714: eight characters and its own check)
18    check character over the first seventeen
====  ===========================================================

The check character: each of the first seventeen characters has its value
(its position in the alphabet) multiplied by the weight ``3**(i-1) mod 31``;
the check is ``31 - sum mod 31`` (31 becoming 0), written with the same
alphabet. :func:`credit_code_problem` checks the form and this character;
:func:`make_credit_code` builds a valid code (the demo's generator uses it).
"""

from __future__ import annotations

__all__ = [
    "ALPHABET",
    "check_character",
    "credit_code_problem",
    "is_valid_credit_code",
    "make_credit_code",
    "organisation_check",
]

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
"""The characters a credit code is written in, in value order."""

_VALUES = {character: value for value, character in enumerate(ALPHABET)}
_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))

# GB 11714 (the organisation code inside the credit code): weights of its
# first eight characters, digits and letters valued 0-35.
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_VALUES = {c: v for v, c in enumerate("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")}

LENGTH = 18


def check_character(first17: str) -> str:
    """Return the check character of the first seventeen characters of a code.

    ``first17`` must already be seventeen characters of :data:`ALPHABET`.
    """
    total = sum(_VALUES[c] * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def credit_code_problem(code: str) -> str | None:
    """Return what is wrong with ``code`` (one sentence), or None if it is a valid code."""
    if len(code) != LENGTH:
        return f"a unified social credit code has {LENGTH} characters, not {len(code)}"
    wrong = sorted({c for c in code if c not in _VALUES})
    if wrong:
        shown = ", ".join(repr(c) for c in wrong)
        return (
            f"{shown} cannot appear in a unified social credit code "
            "(digits and capital letters except I, O, Z, S, V)"
        )
    if not code[2:8].isdigit():
        return f"characters 3-8 are an administrative division code (6 digits), not {code[2:8]!r}"
    expected = check_character(code[:17])
    if code[17] != expected:
        return f"check character is {code[17]!r} but the first 17 characters give {expected!r}"
    return None


def is_valid_credit_code(code: str) -> bool:
    """Tell whether ``code`` is a well-formed code with the right check character."""
    return credit_code_problem(code) is None


def organisation_check(first8: str) -> str:
    """Return the GB 11714 check character of an organisation code's first eight characters."""
    total = sum(_ORG_VALUES[c] * w for c, w in zip(first8, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def make_credit_code(authority: str, category: str, division: str, organisation: str) -> str:
    """Build a valid code from its parts; ``organisation`` is the first eight of GB 11714.

    >>> make_credit_code("9", "1", "420103", "MA4K0001")
    '91420103MA4K000105'
    """
    first17 = authority + category + division + organisation + organisation_check(organisation)
    code = first17 + check_character(first17)
    problem = credit_code_problem(code)
    if problem is not None:
        raise ValueError(f"cannot build a credit code from these parts: {problem}")
    return code
