"""Canonical locations per platform (takedown_core.locations): one item, one case, one notice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from takedown_core.cases import case_id_for
from takedown_core.locations import LocationError, LocationRules, Locations, key_in_url, location_problem, normalize_url

pytestmark = pytest.mark.usefixtures("no_network")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def locations() -> Locations:
    """The dev environment's platform registry, as deployed (cdk.json)."""
    platforms = json.loads((ROOT / "cdk.json").read_text())["context"]["environments"]["dev"]["platforms"]
    return Locations(platforms)


ONE_VIDEO = [
    "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
    "https://youtu.be/dQw4w9WgXcQ",
    "https://m.youtube.com/watch?v=dQw4w9WgXcQ",
    "https://youtube.com/watch?v=dQw4w9WgXcQ",
    "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=30s",
    "http://WWW.YOUTUBE.COM/watch?feature=share&v=dQw4w9WgXcQ#t=1",
    "https://www.youtube.com/shorts/dQw4w9WgXcQ?si=abc",
    "https://youtu.be/dQw4w9WgXcQ?t=30",
    "https://music.youtube.com/watch?v=dQw4w9WgXcQ&list=RDAMVM",
]


def test_given_every_spelling_of_one_youtube_video_then_they_are_one_location(locations):
    found = {locations.locate(u) for u in ONE_VIDEO}
    assert len(found) == 1
    loc = found.pop()
    assert (loc.key, loc.url, loc.platform) == (
        "youtube:dQw4w9WgXcQ", "https://www.youtube.com/watch?v=dQw4w9WgXcQ", "youtube")
    assert len({case_id_for("trk-1", locations.locate(u).key) for u in ONE_VIDEO}) == 1


def test_given_two_videos_then_they_stay_two_locations(locations):
    a = locations.locate("https://youtu.be/AAAAAAAAAAA")
    b = locations.locate("https://youtu.be/BBBBBBBBBBB")
    assert a.key != b.key


def test_given_an_ambiguous_or_unknown_youtube_url_then_nothing_is_merged(locations):
    """Two v= parameters, or a page without an id, keep their whole URL as identity."""
    assert locations.locate("https://www.youtube.com/watch?v=a&v=b").key.startswith("https://")
    assert locations.locate("https://youtube.com/@label/videos").url == "https://www.youtube.com/@label/videos"


def test_given_tiktok_urls_of_one_video_under_two_user_names_then_one_identity(locations):
    a = locations.locate("https://www.tiktok.com/@someone/video/7234567890123?is_from_webapp=1")
    b = locations.locate("https://tiktok.com/@renamed/video/7234567890123")
    assert a.key == b.key == "tiktok:7234567890123"
    assert a.url == "https://www.tiktok.com/@someone/video/7234567890123"


def test_given_a_platform_without_id_rules_then_aliases_and_ignored_parameters_fold(locations):
    a = locations.locate("https://m.soundcloud.com/artist/track/?in=artist/sets/x&utm_source=y")
    b = locations.locate("https://soundcloud.com/artist/track")
    assert a == b and a.platform == "soundcloud"
    assert locations.locate("https://soundcloud.com/artist/track?secret_token=s-1").key != b.key


@pytest.mark.parametrize("url", ["https://feed.example/items/a/../b.mp3", "https://feed.example/items/a/%2e%2E/b.mp3",
                                 "https://feed.example/items/./b.mp3"])
def test_given_dot_segments_then_the_location_is_where_a_browser_goes(url, locations):
    assert locations.locate(url).url == "https://feed.example/items/b.mp3"


def test_given_an_unknown_host_then_generic_normalisation_applies(locations):
    loc = locations.locate("HTTPS://Example.com:443/Item/%7ex/?utm_medium=a&b=2&a=1")
    assert (loc.key, loc.platform) == ("https://example.com/Item/~x?a=1&b=2", None)


@pytest.mark.parametrize("url", ["http://[oops/x", "https://host:99999/x", "https://", "http:///x"])
def test_given_an_unusable_url_then_location_error(url, locations):
    with pytest.raises(LocationError):
        locations.locate(url)


def test_given_an_s3_uri_then_it_is_kept(locations):
    assert locations.locate("s3://b/a/../k").key == "s3://b/a/../k"


def test_given_a_normalized_url_then_normalizing_again_changes_nothing():
    once = normalize_url("http://Ex.com:80/a/./b/../c/?z=1&utm_x=2&a=%7e#f")
    assert normalize_url(once) == once


@pytest.mark.parametrize(("key", "expected"), [
    ("clip.mp3", "clip.mp3"),
    ("dir/a b+c&d.mp3", "dir/a%20b%2Bc%26d.mp3"),
    ("a/../b.mp3", "a%2F..%2Fb.mp3"),
    ("./b.mp3", ".%2Fb.mp3"),
    ("a//b.mp3", "a%2F%2Fb.mp3"),
    ("%2e%2e/b.mp3", "%252e%252e/b.mp3"),
    ("ünï/x.mp3", "%C3%BCn%C3%AF/x.mp3"),
])
def test_given_any_key_then_it_becomes_url_text_that_resolves_to_itself(key, expected):
    text = key_in_url(key)
    assert text == expected
    url = f"https://feed.example/items/{text}"
    assert normalize_url(url).startswith("https://feed.example/items/")
    # what a browser resolves it to still names exactly this key (no segment was resolved away)
    assert normalize_url(url).count("/") - 4 == text.count("/")


@pytest.mark.parametrize("raw", [
    {"hosts": []},
    {"hosts": ["a.example"], "ids": [{"path": "watch", "param": "v"}]},
    {"hosts": ["a.example"], "ids": [{"path": "/x/{id}", "param": "v"}]},
    {"hosts": ["a.example"], "ids": [{"path": "/x"}]},
    {"hosts": ["a.example"], "ids": [{"path": "/{id}", "host": "b.example"}]},
    {"hosts": ["a.example"], "ids": [{"path": "/{id}"}], "url": "http://a.example/{id}"},
    {"hosts": ["a.example"], "url": "https://a.example/{id}"},
])
def test_given_malformed_rules_then_they_are_refused(raw):
    with pytest.raises(LocationError):
        LocationRules.from_config("p", raw)


def test_given_one_host_on_two_platforms_then_refused():
    with pytest.raises(LocationError, match="listed by platforms"):
        Locations({"a": {"location": {"hosts": ["x.example"]}}, "b": {"location": {"hosts": ["x.example"]}}})


def test_given_a_url_off_the_platforms_hosts_then_it_cannot_locate_the_material_there():
    youtube = json.loads((ROOT / "cdk.json").read_text())["context"]["environments"]["dev"]["platforms"]["youtube"]
    for url in ("https://youtu.be/dQw4w9WgXcQ", "http://WWW.YOUTUBE.COM/watch?v=dQw4w9WgXcQ", "https://music.youtube.com/x"):
        assert location_problem(url, "youtube", youtube) is None
    problem = location_problem("https://items.monitor-a.example/monitor-a/a.ogg", "youtube", youtube)
    assert problem.startswith("https://items.monitor-a.example/monitor-a/a.ogg is not an address on YouTube (www.youtube.com")
    assert location_problem("https://youtube.com.evil.example/watch?v=x", "youtube", youtube) is not None
    tiktok = json.loads((ROOT / "cdk.json").read_text())["context"]["environments"]["dev"]["platforms"]["tiktok"]
    assert location_problem("https://vm.tiktok.com/ZMabc123/", "tiktok", tiktok) is None  # its short links
    assert location_problem("https://nottiktok.com/@a/video/1", "tiktok", tiktok) is not None
    # nothing to check against, or nothing to check: the notice's own rules apply
    assert location_problem("https://items.monitor-a.example/a.ogg", "custom", {"name": "Custom"}) is None
    assert location_problem("s3://landing/a.ogg", "youtube", youtube) is None
    assert location_problem(None, "youtube", youtube) is None
