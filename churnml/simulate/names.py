"""Made-up names for the simulated accounts and CSMs, so the demo's page reads like a real book of business.

Pure and drawn from the index alone (no random generator), so adding names changes no other simulated value.
Account names are unique for the first 40 * 37 * 12 = 17,760 indexes and repeat with a number after that.
"""

from __future__ import annotations

_FIRST = (
    "Acorn", "Amber", "Apex", "Arbor", "Aster", "Atlas", "Beacon", "Birch", "Blue", "Bright", "Cedar", "Cobalt",
    "Copper", "Coral", "Crest", "Delta", "Ember", "Fern", "Flint", "Granite", "Harbor", "Indigo", "Iris", "Juniper",
    "Lark", "Linden", "Maple", "Meadow", "North", "Oak", "Onyx", "Orchid", "Pine", "Quartz", "Raven", "Ridge",
    "Sage", "Slate", "Summit", "Willow",
)
_SECOND = (
    "Analytics", "Bakery", "Bio", "Books", "Capital", "Cloud", "Clinic", "Data", "Design", "Dynamics", "Energy",
    "Farms", "Foods", "Freight", "Games", "Health", "Homes", "Labs", "Legal", "Logistics", "Media", "Metrics",
    "Motors", "Networks", "Optics", "Partners", "Pharma", "Retail", "Robotics", "Security", "Software", "Solar",
    "Studios", "Systems", "Textiles", "Travel", "Works",
)
_SUFFIX = ("Inc", "Ltd", "GmbH", "LLC", "Co", "Group", "SA", "AB", "BV", "Oy", "plc", "AG")
_GIVEN = (
    "Ana", "Ben", "Chloé", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi", "Liam", "Maya",
    "Nils", "Olivia", "Priya", "Quinn", "Rosa", "Sam", "Tomás", "Uma", "Victor", "Wen", "Yara", "Zoe",
)
_FAMILY = (
    "Adeyemi", "Berg", "Costa", "Dubois", "Evans", "Fischer", "García", "Hansen", "Ito", "Jensen", "Kowalski",
    "Larsen", "Moreau", "Nakamura", "Okafor", "Patel", "Rossi", "Silva", "Tanaka", "Novak", "Weber",
)


def account_name(index: int) -> str:
    """A company-like name for simulated account number `index` (e.g. "Cedar Logistics Ltd")."""
    a, rest = index % len(_FIRST), index // len(_FIRST)
    b, rest = rest % len(_SECOND), rest // len(_SECOND)
    c, rest = rest % len(_SUFFIX), rest // len(_SUFFIX)
    name = f"{_FIRST[a]} {_SECOND[b]} {_SUFFIX[c]}"
    return name if rest == 0 else f"{name} {rest + 1}"


def csm_name(index: int) -> str:
    """A person's name for simulated CSM number `index` (unique for the first 25 * 21 = 525)."""
    g, f = index % len(_GIVEN), (index // len(_GIVEN) + index * 7) % len(_FAMILY)
    rest = index // (len(_GIVEN) * len(_FAMILY))
    name = f"{_GIVEN[g]} {_FAMILY[f]}"
    return name if rest == 0 else f"{name} {rest + 1}"
