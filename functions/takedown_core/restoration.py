"""The restoration clock of a DMCA counter-notice, in business days.

17 U.S.C. § 512(g)(2)(C): after a counter-notice, the service provider restores the material
"not less than 10, nor more than 14, business days following receipt of the counter notice",
unless its designated agent first receives notice that the complainant has filed an action
seeking a court order. So the label's decision (sue, or let it be restored) is due before the
first of those days. Business days skip weekends and the public holidays of the provider's
jurisdiction: the arithmetic is numpy's (``numpy.busday_offset``), the holidays come from the
``holidays`` package (``holidays.country_holidays``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np


@dataclass(frozen=True)
class RestorationWindow:
    """received: the day the counter-notice was received; earliest / latest: the first and the
    last business day on which the provider may restore (10 and 14 business days after);
    decide_by: the last business day before ``earliest`` (the action must be filed by then)."""

    received: date
    earliest: date
    latest: date
    decide_by: date
    calendar: str

    def to_dict(self) -> dict[str, str]:
        return {"received": self.received.isoformat(), "restore_earliest": self.earliest.isoformat(),
                "restore_latest": self.latest.isoformat(), "decide_by": self.decide_by.isoformat(),
                "calendar": self.calendar}


def restoration_window(received: date, *, country: str = "US", subdivision: str | None = None,
                       after_business_days: int = 10, by_business_days: int = 14) -> RestorationWindow:
    """The window in which the provider may restore, counted in ``country``'s business days
    (ISO 3166 code; ``subdivision`` e.g. "CA" for a state's holidays too). Raises ValueError
    for an unknown country or a window that is not 1 <= after <= by."""
    import holidays

    if not 1 <= after_business_days <= by_business_days:
        raise ValueError("the restoration window needs 1 <= after_business_days <= by_business_days")
    try:
        days_off = holidays.country_holidays(country, subdiv=subdivision,
                                             years=range(received.year, received.year + 2))
    except NotImplementedError as e:
        raise ValueError(f"no holiday calendar for {country!r}") from e
    off = np.array(sorted(days_off.keys()), dtype="datetime64[D]")
    start = np.datetime64(received, "D")
    # "following receipt": count from the next business day on; a counter-notice received on a
    # weekend or holiday is counted from the next business day, as if received then
    earliest = np.busday_offset(start, after_business_days, roll="forward", holidays=off)
    latest = np.busday_offset(start, by_business_days, roll="forward", holidays=off)
    decide_by = np.busday_offset(earliest, -1, roll="backward", holidays=off)
    as_date = lambda d: date.fromisoformat(str(d))  # noqa: E731
    name = country + (f"-{subdivision}" if subdivision else "")
    return RestorationWindow(received, as_date(earliest), as_date(latest), as_date(decide_by), name)
