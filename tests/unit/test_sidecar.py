"""Partner sidecars (takedown_core.sidecar): parse, locate, and turn into a Source."""

from __future__ import annotations

import json

import pytest

from takedown_core.cases import normalize_location
from takedown_core.locations import normalize_url
from takedown_core.sidecar import (
    FIELDS,
    MAX_DESCRIPTION_CHARS,
    MAX_FIELD_CHARS,
    MAX_SIDECAR_BYTES,
    MAX_TAG_CHARS,
    MAX_TAGS,
    SidecarError,
    build_source,
    is_sidecar_key,
    parse_sidecar,
    sidecar_keys,
)

pytestmark = pytest.mark.usefixtures("no_network")

FULL = {
    "source_url": "https://www.youtube.com/watch?v=abc123",
    "platform": "YouTube",
    "uploader": "nightcore_fan",
    "title": "Midnight Harbour (sped up)",
    "partner_ref": "SC-1",
    "territory": "US",
    "description": "Midnight Harbour, but in the voice model of The Lanterns.\nNot real!",
    "tags": ["ai cover", "rvc", "the lanterns"],
}
PLATFORMS = {"youtube", "tiktok", "soundcloud"}
PARTNER = {"id": "scanco", "bucket": "scanco-landing", "default_platform": "youtube"}
FEED_PARTNER = {"id": "feedco", "bucket": "feedco-landing", "default_platform": "soundcloud",
                "location_template": "https://feed.example/items/{key}?from={bucket}"}


def raw(obj) -> bytes:
    return json.dumps(obj).encode()


def error_of(data: bytes, **kw) -> str:
    with pytest.raises(SidecarError) as err:
        parse_sidecar(data, **kw)
    return str(err.value)


# --------------------------------------------------------------------------- valid


def test_given_a_full_sidecar_when_parsed_then_every_field_is_kept_and_platform_lowered():
    assert parse_sidecar(raw(FULL), platforms=PLATFORMS) == {**FULL, "platform": "youtube"}


def test_given_an_empty_object_when_parsed_then_nothing_is_set():
    assert parse_sidecar(b"{}") == {}


def test_given_nulls_blanks_and_padding_when_parsed_then_they_are_dropped_or_trimmed():
    got = parse_sidecar(raw({"uploader": None, "title": "   ", "partner_ref": "  A-1 \n"}))
    assert got == {"partner_ref": "A-1"}


def test_given_no_platform_list_when_parsed_then_any_platform_is_accepted():
    assert parse_sidecar(raw({"platform": "Vimeo"})) == {"platform": "vimeo"}


def test_given_a_utf8_bom_free_unicode_sidecar_when_parsed_then_text_is_kept():
    assert parse_sidecar(raw({"title": "Hafenlichter – Mitternacht"}))["title"] == "Hafenlichter – Mitternacht"


def test_given_the_documented_fields_then_they_are_the_ones_accepted():
    assert set(FIELDS) == set(FULL)


# --------------------------------------------------------------------------- invalid


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"not json", "not valid UTF-8 JSON"),
        (b"\xff\xfe{}", "not valid UTF-8 JSON"),
        (b"", "not valid UTF-8 JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'"https://example.com"', "must be a JSON object"),
        (b"null", "must be a JSON object"),
    ],
)
def test_given_a_sidecar_that_is_not_an_object_then_the_message_says_so(data, says):
    assert says in error_of(data)


def test_given_unknown_fields_then_the_message_names_them_and_the_allowed_ones():
    msg = error_of(raw({"url": "https://x.example/", "source_url": "https://x.example/", "Platform": "y"}))
    assert "['Platform', 'url']" in msg
    assert "allowed:" in msg and "source_url" in msg


@pytest.mark.parametrize("value", [1, 1.5, True, ["a"], {"a": 1}])
def test_given_a_field_of_the_wrong_type_then_the_message_names_field_and_type(value):
    msg = error_of(raw({"uploader": value}))
    assert "'uploader'" in msg and type(value).__name__ in msg


def test_given_a_field_that_is_too_long_then_the_message_names_it():
    msg = error_of(raw({"title": "x" * (MAX_FIELD_CHARS + 1)}))
    assert "'title'" in msg and str(MAX_FIELD_CHARS) in msg


def test_given_a_sidecar_over_the_size_limit_then_it_is_rejected_before_parsing():
    msg = error_of(b" " * (MAX_SIDECAR_BYTES + 1))
    assert str(MAX_SIDECAR_BYTES) in msg


@pytest.mark.parametrize(
    "url", ["ftp://example.com/a", "javascript:alert(1)", "www.youtube.com/watch?v=1", "https://", "s3://b/k", "//x.y/"]
)
def test_given_an_unusable_source_url_then_the_message_names_the_field_and_value(url):
    msg = error_of(raw({"source_url": url}))
    assert "'source_url'" in msg and repr(url) in msg


def test_given_an_unconfigured_platform_then_the_message_lists_the_known_ones():
    msg = error_of(raw({"platform": "MySpace"}), platforms=PLATFORMS)
    assert "'myspace'" in msg and "['soundcloud', 'tiktok', 'youtube']" in msg


@pytest.mark.parametrize("url", ["https://www.youtube.com:99999/watch?v=1", "https://www.youtube.com:abc/watch?v=1"])
def test_given_a_source_url_with_an_invalid_port_then_it_is_rejected(url):
    msg = error_of(raw({"source_url": url}))
    assert "'source_url'" in msg


@pytest.mark.parametrize(
    ("url", "location"),
    [
        ("https://www.youtube.com/watch?v=1", "https://www.youtube.com/watch?v=1"),
        ("http://EXAMPLE.com:8080/a/", "https://example.com:8080/a"),
        ("https://x.example", "https://x.example/"),
    ],
)
def test_given_a_source_url_that_passes_then_it_can_be_normalized(url, location):
    """Whatever parse_sidecar accepts must be usable as a case location. normalize_location
    falls back to its input when the URL does not parse, so the canonical form is checked
    (and normalize_url, which raises instead, must give the same)."""
    parsed = parse_sidecar(raw({"source_url": url}))["source_url"]
    assert parsed == url
    assert normalize_location(parsed) == location
    assert normalize_url(parsed) == location


# --------------------------------------------------------------------------- keys


@pytest.mark.parametrize(
    ("media_key", "expected"),
    [
        ("clip.mp4", ["clip.mp4.json", "clip.json"]),
        ("dir/sub/clip.final.m4a", ["dir/sub/clip.final.m4a.json", "dir/sub/clip.final.json"]),
        ("noext", ["noext.json"]),
        ("dir.v2/noext", ["dir.v2/noext.json"]),
    ],
)
def test_given_a_media_key_then_its_sidecar_is_looked_for_with_and_without_extension(media_key, expected):
    assert sidecar_keys(media_key) == expected


@pytest.mark.parametrize(("key", "is_sidecar"), [("a.json", True), ("a.mp4.JSON", True), ("a.mp4", False),
                                                  ("json", False)])
def test_given_a_key_then_sidecars_are_recognised_by_extension(key, is_sidecar):
    assert is_sidecar_key(key) is is_sidecar


# --------------------------------------------------------------------------- build_source


def test_given_no_sidecar_when_building_then_the_partner_defaults_apply_and_location_is_the_object():
    src = build_source(partner=PARTNER, bucket="scanco-landing", key="up/clip.mp4", sidecar=None)
    assert (src.partner, src.platform, src.url, src.uploader, src.title, src.partner_ref, src.territory) == (
        "scanco", "youtube", None, None, None, None, None)
    assert (src.bucket, src.key) == ("scanco-landing", "up/clip.mp4")
    assert src.location == "s3://scanco-landing/up/clip.mp4"


def test_given_a_sidecar_when_building_then_its_fields_are_used():
    side = parse_sidecar(raw({**FULL, "platform": "tiktok"}), platforms=PLATFORMS)
    src = build_source(partner=PARTNER, bucket="scanco-landing", key="clip.mp4", sidecar=side)
    assert (src.platform, src.url, src.uploader, src.title, src.partner_ref, src.territory) == (
        "tiktok", FULL["source_url"], "nightcore_fan", "Midnight Harbour (sped up)", "SC-1", "US")
    assert src.location == FULL["source_url"]
    assert src.description == FULL["description"] and src.tags == ("ai cover", "rvc", "the lanterns")


def test_given_a_sidecar_without_platform_when_building_then_the_partner_default_is_used():
    src = build_source(partner=PARTNER, bucket="b", key="k", sidecar={"uploader": "u"})
    assert src.platform == "youtube" and src.uploader == "u"


def test_given_a_location_template_and_no_url_when_building_then_the_url_comes_from_the_template_quoted():
    src = build_source(partner=FEED_PARTNER, bucket="feedco-landing", key="items/a b&c.mp3", sidecar=None)
    assert src.url == "https://feed.example/items/items/a%20b%26c.mp3?from=feedco-landing"
    assert src.platform == "soundcloud"


def test_given_a_location_template_and_a_sidecar_url_when_building_then_the_sidecar_wins():
    src = build_source(partner=FEED_PARTNER, bucket="feedco-landing", key="k.mp3",
                       sidecar={"source_url": "https://soundcloud.com/x/y"})
    assert src.url == "https://soundcloud.com/x/y"


# --------------------------------------------------------------------------- hostile sidecars (issue 13)


@pytest.mark.parametrize("data", [
    b"[" * 20000 + b"]" * 20000,
    b'{"title": ' + b"[" * 20000 + b"]" * 20000 + b"}",
    b'{"title": ' + b'{"a":' * 20000 + b"1" + b"}" * 20000 + b"}",
])
def test_given_a_sidecar_nested_thousands_deep_then_it_is_a_sidecar_error_not_a_crash(data):
    """Found by the hostile trial: json.loads raised RecursionError, which escaped to the DLQ."""
    assert "sidecar" in error_of(data[:MAX_SIDECAR_BYTES])


@pytest.mark.parametrize("url", ["http://[oops/x", "https://[::1/x", "http://a]b/", "https://exa mple.com/",
                                 "https://example.com/\r\nX-Injected: 1", "https://example.com:0x50/"])
def test_given_a_source_url_the_url_parser_chokes_on_then_it_is_a_sidecar_error(url):
    """Found by the hostile trial: urlsplit raised ValueError("Invalid IPv6 URL") outside the parser's guard."""
    assert "'source_url'" in error_of(raw({"source_url": url}))


@pytest.mark.parametrize(("data", "outcome"), [
    (b'{"title": "\\ud800"}', "not valid UTF-8 JSON"),  # a lone surrogate cannot be text
    (b'{"title": "a\\u0000b"}', {"title": "a\x00b"}),
    (b"\xef\xbb\xbf{}", "not valid UTF-8 JSON"),  # a byte-order mark is not JSON
    (b'{"title": 1e999}', "'title' must be a string, got float"),
    (b'{"title": "x", "title": 2}', "'title' must be a string, got int"),  # the last duplicate counts
    (b"{" + b" " * 60000 + b"}", {}),
])
def test_given_odd_but_small_sidecars_then_they_parse_or_fail_with_a_sidecar_error(data, outcome):
    if isinstance(outcome, dict):
        assert parse_sidecar(data) == outcome
    else:
        assert outcome in error_of(data)


def test_given_a_sidecar_whose_platform_and_url_disagree_then_build_source_refuses():
    from takedown_core.locations import Locations

    locs = Locations({"youtube": {"location": {"hosts": ["www.youtube.com", "youtu.be"]}},
                      "tiktok": {"location": {"hosts": ["www.tiktok.com"]}}})
    with pytest.raises(SidecarError, match="does not match its source_url"):
        build_source(partner=PARTNER, bucket="b", key="k", locations=locs,
                     sidecar={"platform": "tiktok", "source_url": "https://youtu.be/abc"})
    src = build_source(partner=FEED_PARTNER, bucket="b", key="k", locations=locs,
                       sidecar={"source_url": "https://youtu.be/abc"})
    assert src.platform == "youtube"  # the URL's host says where it is, not the partner's default


@pytest.mark.parametrize("key", ["a/../b.mp3", "./b.mp3", "x/./../../b.mp3"])
def test_given_a_key_with_dot_segments_then_the_template_url_cannot_resolve_to_another_item(key):
    """Found by the hostile trial: `a/../b.mp3` became `/b.mp3`, another item's URL."""
    src = build_source(partner=FEED_PARTNER, bucket="feedco-landing", key=key, sidecar=None)
    assert normalize_location(src.url) != "https://feed.example/items/b.mp3?from=feedco-landing"
    assert ".." not in normalize_location(src.url).split("?")[0].split("/")


# --------------------------------------------------------------------------- description and tags (deepfakes)


def test_given_no_description_or_tags_when_building_then_the_source_has_none():
    src = build_source(partner=PARTNER, bucket="b", key="k", sidecar=parse_sidecar(raw({"title": "t"})))
    assert src.description is None and src.tags == ()


def test_given_a_description_with_line_breaks_and_tabs_then_it_is_kept_trimmed():
    got = parse_sidecar(raw({"description": "  line one\n\tline two\r\nthree  "}))
    assert got == {"description": "line one\n\tline two\r\nthree"}


def test_given_tags_with_blanks_padding_and_repeats_then_blanks_go_padding_is_trimmed_and_repeats_are_one():
    assert parse_sidecar(raw({"tags": [" AI cover ", "", "   ", "rvc", "rvc", "RVC"]})) == {
        "tags": ["AI cover", "rvc", "RVC"]}
    assert parse_sidecar(raw({"tags": []})) == {} and parse_sidecar(raw({"tags": None})) == {}
    assert parse_sidecar(raw({"tags": ["", " "]})) == {}


@pytest.mark.parametrize(("sidecar", "says"), [
    ({"description": "x" * (MAX_DESCRIPTION_CHARS + 1)}, f"'description' is longer than {MAX_DESCRIPTION_CHARS} characters"),
    ({"description": "a\x00b"}, "'description' must be text without control characters"),
    ({"description": "bell\x07"}, "'description' must be text without control characters"),
    ({"description": ["a"]}, "'description' must be a string, got list (array)"),
    ({"tags": "ai cover"}, "'tags' must be a list of strings, got str (string)"),
    ({"tags": {"a": 1}}, "'tags' must be a list of strings, got dict (object)"),
    ({"tags": 3}, "'tags' must be a list of strings, got int (number)"),
    ({"tags": ["ok", 1]}, "'tags' item 1 must be a string, got int (number)"),
    ({"tags": [["nested"]]}, "'tags' item 0 must be a string, got list (array)"),
    ({"tags": [None]}, "'tags' item 0 must be a string, got NoneType"),
    ({"tags": ["x" * (MAX_TAG_CHARS + 1)]}, f"'tags' item 0 is longer than {MAX_TAG_CHARS} characters"),
    ({"tags": ["t"] * (MAX_TAGS + 1)}, f"'tags' has more than {MAX_TAGS} items"),
    ({"tags": ["ok", "two\nlines"]}, "'tags' item 1 must be one line of text without control characters"),
    ({"tags": ["tab\there"]}, "'tags' item 0 must be one line of text without control characters"),
])
def test_given_a_bad_description_or_tags_then_the_message_says_which_and_why(sidecar, says):
    assert says in error_of(raw(sidecar))


def test_given_the_most_tags_of_the_longest_length_then_they_are_accepted():
    tags = [f"{n:03d}" + "x" * (MAX_TAG_CHARS - 3) for n in range(MAX_TAGS)]
    assert parse_sidecar(raw({"tags": tags, "description": "d" * MAX_DESCRIPTION_CHARS}))["tags"] == tags


def test_given_any_json_in_description_and_tags_then_the_parser_returns_a_dict_or_a_sidecar_error():
    """The fuzzer's promise (bench/fuzz_decode.py) for the two new fields: nothing but a
    reason leaves the parser."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=120)
    value = st.recursive(leaf, lambda c: st.lists(c, max_size=60) | st.dictionaries(st.text(max_size=5), c, max_size=3),
                         max_leaves=80)

    @settings(max_examples=300, deadline=None)
    @given(st.dictionaries(st.sampled_from(["description", "tags", "title"]), value, max_size=3))
    def check(doc):
        try:
            out = parse_sidecar(json.dumps(doc, allow_nan=True).encode())
        except SidecarError:
            return
        assert isinstance(out, dict)
        assert all(isinstance(t, str) and t for t in out.get("tags", []))

    check()


def test_given_a_source_stored_and_read_back_then_its_tags_are_a_tuple_again():
    """DynamoDB and JSON give a stored tuple back as a list; the Source is equal either way."""
    from dataclasses import asdict

    from takedown_core.cases import Source

    src = build_source(partner=PARTNER, bucket="b", key="k", sidecar={"tags": ["ai cover"], "description": "d"})
    stored = json.loads(json.dumps(asdict(src)))
    assert stored["tags"] == ["ai cover"] and Source(**stored) == src
    assert Source(partner="p", platform="youtube", tags=None).tags == ()
