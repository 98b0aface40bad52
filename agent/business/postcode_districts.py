"""Whether a postcode's district exists, where that is cheap to know (pure).

``ukformats.parse_postcode`` checks a postcode's shape and its area; a recogniser's
second guess can have both and still name no place ("southeast 0.9 SD" is SE0 9SD:
there is no SE0). Checked here: the London postal areas' districts (their numbers
and which of them are split by a letter, as SW1A or EC4M), and district 0, which
only a few areas have. Elsewhere any district number is let through: a postcode
is refused here only when it surely does not exist.
"""

from __future__ import annotations

from agent.business.ukformats import Postcode

__all__ = ["area_districts", "known_district"]

# Area: the highest district number, the districts that have a letter after the
# number, and those that have one always (SW1 is SW1A..SW1Y, never SW1 alone).
_LONDON: dict[str, tuple[int, frozenset[int], frozenset[int]]] = {
    "E": (20, frozenset({1}), frozenset()),  # E1W
    "EC": (4, frozenset({1, 2, 3, 4}), frozenset({1, 2, 3, 4})),
    "N": (22, frozenset({1}), frozenset()),  # N1C, N1P
    "NW": (11, frozenset({1}), frozenset()),  # NW1W
    "SE": (28, frozenset({1}), frozenset()),  # SE1P
    "SW": (20, frozenset({1}), frozenset({1})),
    "W": (14, frozenset({1}), frozenset({1})),
    "WC": (2, frozenset({1, 2}), frozenset({1, 2})),
}
# The areas with a district 0 (BL0 Ramsbottom, CR0 Croydon, HA0 Wembley, SS0
# Westcliff-on-Sea...): anywhere else a 0 is a mishearing ("SE0", "SW0").
_DISTRICT_ZERO = frozenset({"BL", "BS", "CM", "CR", "FY", "HA", "SS"})


# The letters each split district has (SW1A..SW1Y are eight, not 25): "SW1D" is a
# recogniser's W1D with an S in front, no place.
_SUB_DISTRICTS: dict[str, str] = {
    "E1": "W",
    "EC1": "AMNPRVY",
    "EC2": "AMNPRVY",
    "EC3": "AMNPRV",
    "EC4": "AMNPRVY",
    "N1": "CP",
    "NW1": "W",
    "SE1": "P",
    "SW1": "AEHPVWXY",
    "W1": "ABCDFGHJKSTUW",
    "WC1": "ABEHNRVX",
    "WC2": "ABEHNR",
}


def known_district(postcode: Postcode) -> bool:
    """False when ``postcode``'s district surely does not exist (SE0, SW21, EC5, SE1A,
    SW1 without its letter); True otherwise."""
    if postcode.district == 0 and postcode.area not in _DISTRICT_ZERO:
        return False
    london = _LONDON.get(postcode.area)
    if london is None:
        return True
    highest, lettered, always = london
    if not 1 <= postcode.district <= highest:
        return False
    if postcode.sub_district:
        letters = _SUB_DISTRICTS.get(f"{postcode.area}{postcode.district}")
        return postcode.district in lettered and (
            letters is None or postcode.sub_district in letters
        )
    return postcode.district not in always


def area_districts(area: str) -> list[str]:
    """Every district of a London postal area ("WC": WC1A, WC1B, ... WC2R), in order;
    an empty list for an area whose districts are not listed here."""
    london = _LONDON.get(area)
    if london is None:
        return []
    highest, lettered, always = london
    found: list[str] = []
    for number in range(1, highest + 1):
        if number not in always:
            found.append(f"{area}{number}")
        if number in lettered:
            found.extend(f"{area}{number}{x}" for x in _SUB_DISTRICTS.get(f"{area}{number}", ""))
    return found
