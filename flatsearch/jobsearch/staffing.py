"""Which employers are staffing, sourcing or recruiting agencies.

Rules, applied to the company name and domain (case-insensitive):

1. the override list in ``data/staffing.json`` decides first (``"staffing"`` names
   agencies the rules miss, ``"not_staffing"`` names employers they catch wrongly);
2. otherwise a name or domain containing one of the agency words (staffing,
   recruiting, recruitment, sourcing, talent solutions, headhunt, placement,
   employment agency, search partners, consulting group) marks an agency.
"""
from __future__ import annotations

import json
import re
from importlib import resources

_AGENCY_WORDS = re.compile(
    r"staffing|recruit(ing|ment|ers)?\b|sourcing|talent solutions|headhunt|placements?\b|employment agency|"
    r"search partners|consulting group|manpower|temp agency",
    re.IGNORECASE,
)


class StaffingRules:
    """Decide whether a company is a staffing/sourcing agency.

    Example:
        >>> rules = StaffingRules()
        >>> rules.is_staffing("Acme Staffing Group"), rules.is_staffing("Stripe", "stripe.com")
        (True, False)
    """

    def __init__(self, *, overrides: dict | None = None):
        if overrides is None:
            overrides = json.loads(resources.files(__package__).joinpath("data/staffing.json").read_text(encoding="utf-8"))
        self._staffing = {name.casefold() for name in overrides.get("staffing", [])}
        self._not_staffing = {name.casefold() for name in overrides.get("not_staffing", [])}

    def is_staffing(self, company: str, domain: str = "") -> bool:
        key = company.strip().casefold()
        if key in self._staffing or domain.casefold() in self._staffing:
            return True
        if key in self._not_staffing:
            return False
        return bool(_AGENCY_WORDS.search(company) or _AGENCY_WORDS.search(domain))
