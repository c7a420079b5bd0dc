"""The location processor: a shared point checked, coarsened to the tenant's precision and named
(place, region, country) from the offline gazetteer (``processors/gazetteer.py``).

Privacy: unless the tenant's ``processors.location.exact`` is true, the coordinates are rounded
to ``precision_decimals`` (default 2, about 1 km) before anything keeps or passes them on: the
process stage stores ``coarsened_content`` in place of the channel's content (the street
address goes too: it pins the point as well as exact coordinates do) and this processor rewrites
a text that is only the point's coordinates. The place is looked up from the coarsened point, so
the result never says more than the tenant's precision allows. A coordinate with more decimals
than a device resolves (past 7, a centimetre) is taken as sent: the extra digits are noise that
coarsening removes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from processors.base import Kind, ProcessorError, Stage, Work
from processors.gazetteer import BUNDLED, LazyGazetteer

DEFAULT_PRECISION = 2
MAX_PRECISION = 6  # a decimetre; past it rounding is not coarsening
NEAREST_PLACE_KM = 50.0  # farther than this from every town (at sea, say), the point is unnamed
INVALID_LOCATION_REPLY = (
    "Sorry, that location could not be read. Please share it again or type the address."
)
_BOUNDS = (("latitude", 90.0), ("longitude", 180.0))


def invalid_coordinates(content: Mapping[str, Any]) -> str | None:
    """Why a location message's coordinates are unusable, or None when they are fine. The
    validation processor refuses a location message with this; the reason never holds the
    coordinates themselves."""
    for axis, bound in _BOUNDS:
        value = content.get(axis)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{axis} is not a number"
        if not math.isfinite(value):
            return f"{axis} is not finite"
        if not -bound <= value <= bound:
            return f"{axis} is outside -{bound:g}..{bound:g}"
    if content["latitude"] == 0 and content["longitude"] == 0:
        return "0,0 (null island) is what a device sends without a fix"
    return None


def precision_decimals(options: Mapping[str, Any]) -> int | None:
    """The decimals the tenant's coordinates are rounded to; None when it keeps them exact. An
    unreadable option falls back to the default: a typo never keeps coordinates exact."""
    if options.get("exact") is True:
        return None
    decimals = options.get("precision_decimals", DEFAULT_PRECISION)
    if isinstance(decimals, bool) or not isinstance(decimals, int):
        return DEFAULT_PRECISION
    return decimals if 0 <= decimals <= MAX_PRECISION else DEFAULT_PRECISION


def _coarsened(value: Any, decimals: int) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return value  # not a coordinate: nothing to hide
    return round(float(value), decimals) + 0.0  # + 0.0 turns a rounded -0.0 into 0.0


def coarsened_content(content: Mapping[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    """A location message's content as it may be stored: the coordinates rounded to the tenant's
    ``processors.location`` precision and the address dropped, unless it keeps them exact."""
    decimals = precision_decimals(options)
    if decimals is None:
        return dict(content)
    kept = {key: value for key, value in content.items() if key != "address"}
    for axis, _bound in _BOUNDS:
        if axis in kept:
            kept[axis] = _coarsened(kept[axis], decimals)
    return kept


def coarsened_text(text: str, content: Mapping[str, Any], options: Mapping[str, Any]) -> str:
    """The message's text with the coarsened point in place of the exact one, where the channel
    wrote the bare coordinates as the text (an unnamed location); any other text as it is."""
    exact = f"{content.get('latitude')},{content.get('longitude')}"
    if text.strip() != exact:
        return text
    coarse = coarsened_content(content, options)
    return f"{coarse['latitude']},{coarse['longitude']}"


@dataclass(frozen=True)
class LocationProcessor:
    gazetteer: LazyGazetteer = BUNDLED
    name: str = "location"
    stage: Stage = Stage.PROCESSING
    kinds: frozenset[Kind] = field(default_factory=lambda: frozenset({Kind.LOCATION}))

    def run(self, work: Work) -> None:
        problem = invalid_coordinates(work.content)
        if problem is not None:
            raise ProcessorError(f"invalid location: {problem}")
        options = work.options(self.name)
        decimals = precision_decimals(options)
        coarse = coarsened_content(work.content, options)
        latitude, longitude = coarse["latitude"], coarse["longitude"]
        place = self.gazetteer.get().nearest(latitude, longitude)
        named = place.distance_km <= NEAREST_PLACE_KM
        work.results[self.name] = {
            "latitude": latitude,
            "longitude": longitude,
            "precision_decimals": decimals,
            "exact": decimals is None,
            "place": place.name if named else None,
            "region": place.region if named else None,
            "country": place.country if named else None,
        }
        work.text = coarsened_text(work.text, work.content, options)
        if work.engine_text is not None:
            work.engine_text = coarsened_text(work.engine_text, work.content, options)
