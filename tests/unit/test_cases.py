"""Cases (takedown_core.cases): the transition table, locations and case ids."""

from __future__ import annotations

import re

import pytest

from takedown_core.cases import (
    TERMINAL,
    TRANSITIONS,
    AuditEvent,
    Case,
    ConcurrentChange,
    IllegalTransition,
    Source,
    Status,
    case_id_for,
    check_transition,
    normalize_location,
)

pytestmark = pytest.mark.usefixtures("no_network")

S = Status
ALLOWED = [
    (S.DETECTED, S.IN_REVIEW),
    (S.DETECTED, S.APPROVED),
    (S.DETECTED, S.FAILED),
    (S.IN_REVIEW, S.IN_REVIEW),
    (S.IN_REVIEW, S.APPROVED),
    (S.IN_REVIEW, S.REJECTED),
    (S.IN_REVIEW, S.REVIEW_EXPIRED),
    (S.IN_REVIEW, S.FAILED),
    (S.APPROVED, S.NOTICE_SENT),
    (S.APPROVED, S.NOTICE_QUEUED),     # a web-form-only platform: a person submits it
    (S.APPROVED, S.NOTICE_INVALID),    # a required element is missing: not sent
    (S.APPROVED, S.NOTICE_FAILED),     # the channel kept failing
    (S.APPROVED, S.NOTICE_REJECTED),   # the platform refused it at once
    (S.APPROVED, S.FAILED),
    (S.NOTICE_QUEUED, S.NOTICE_SENT),
    (S.NOTICE_QUEUED, S.NOTICE_FAILED),
    (S.NOTICE_QUEUED, S.NOTICE_REJECTED),
    (S.NOTICE_QUEUED, S.FAILED),
    (S.NOTICE_SENT, S.CONTENT_REMOVED),
    (S.NOTICE_SENT, S.NOTICE_REJECTED),
    (S.NOTICE_SENT, S.COUNTER_NOTICED),
    (S.NOTICE_SENT, S.NOTICE_DISPUTED),
    (S.NOTICE_SENT, S.FAILED),
    (S.CONTENT_REMOVED, S.COUNTER_NOTICED),  # removed, then counter-noticed (17 U.S.C. 512(g))
    (S.CONTENT_REMOVED, S.FAILED),
    (S.COUNTER_NOTICED, S.RESTORED),
    (S.COUNTER_NOTICED, S.LEGAL_ACTION),
    (S.COUNTER_NOTICED, S.FAILED),
]
ILLEGAL_SAMPLE = [
    (S.DETECTED, S.NOTICE_SENT),       # no notice without approval
    (S.DETECTED, S.REJECTED),          # nobody reviewed it
    (S.DETECTED, S.DETECTED),
    (S.IN_REVIEW, S.NOTICE_SENT),      # skipping approval
    (S.IN_REVIEW, S.DETECTED),
    (S.APPROVED, S.REJECTED),          # a decision is not reversed
    (S.APPROVED, S.APPROVED),
    (S.APPROVED, S.IN_REVIEW),
    (S.REJECTED, S.NOTICE_SENT),       # the docstring's example
    (S.REJECTED, S.APPROVED),
    (S.REVIEW_EXPIRED, S.APPROVED),    # an expired case cannot be decided late
    (S.REVIEW_EXPIRED, S.IN_REVIEW),
    (S.NOTICE_SENT, S.APPROVED),
    (S.CONTENT_REMOVED, S.NOTICE_SENT),
    (S.NOTICE_DISPUTED, S.CONTENT_REMOVED),
    (S.NOTICE_INVALID, S.NOTICE_SENT),  # an invalid notice is never sent later by itself
    (S.RESTORED, S.CONTENT_REMOVED),
    (S.COUNTER_NOTICED, S.NOTICE_SENT),
    (S.FAILED, S.DETECTED),            # FAILED is the end, not a reset
    (S.FAILED, S.FAILED),
]
EXECUTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


# --------------------------------------------------------------------------- transitions


def test_given_the_table_then_it_is_exactly_the_allowed_list():
    from_table = {(a, b) for a, nxt in TRANSITIONS.items() for b in nxt}
    assert from_table == set(ALLOWED)


def test_given_the_table_then_every_status_has_an_entry():
    assert set(TRANSITIONS) == set(Status)


@pytest.mark.parametrize(("current", "wanted"), ALLOWED, ids=lambda s: s.value)
def test_given_an_allowed_transition_when_checked_then_it_passes(current, wanted):
    check_transition("case-1", current, wanted)


@pytest.mark.parametrize(("current", "wanted"), ILLEGAL_SAMPLE, ids=lambda s: s.value)
def test_given_an_illegal_transition_when_checked_then_illegal_transition_names_both_ends(current, wanted):
    with pytest.raises(IllegalTransition) as err:
        check_transition("case-1", current, wanted)
    assert (err.value.case_id, err.value.current, err.value.wanted) == ("case-1", current, wanted)
    assert f"{current.value} -> {wanted.value}" in str(err.value)


def test_given_the_table_then_terminal_states_are_the_ones_with_no_way_out():
    assert TERMINAL == {S.REJECTED, S.REVIEW_EXPIRED, S.NOTICE_INVALID, S.NOTICE_FAILED, S.NOTICE_REJECTED,
                        S.RESTORED, S.LEGAL_ACTION, S.NOTICE_DISPUTED, S.FAILED}


@pytest.mark.parametrize("status", sorted(set(Status) - TERMINAL, key=lambda s: s.value), ids=lambda s: s.value)
def test_given_a_live_status_then_it_can_always_fail(status):
    """Any failure ends the case in FAILED ("never silent"), from wherever it was."""
    check_transition("case-1", status, S.FAILED)


def test_given_a_concurrent_change_then_it_says_what_was_expected_and_found():
    assert "expected APPROVED, found REJECTED" in str(ConcurrentChange("c", S.APPROVED, S.REJECTED))
    assert "found missing" in str(ConcurrentChange("c", S.APPROVED, None))


# --------------------------------------------------------------------------- locations


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://www.youtube.com/watch?v=abc123", "https://www.youtube.com/watch?v=abc123"),
        ("https://www.youtube.com/watch?v=abc123&utm_source=twitter&utm_medium=social",
         "https://www.youtube.com/watch?v=abc123"),
        ("https://www.youtube.com/watch?si=XyZ&v=abc123&feature=share", "https://www.youtube.com/watch?v=abc123"),
        ("https://example.com/a?fbclid=1&gclid=2&pp=3&keep=yes", "https://example.com/a?keep=yes"),
        ("HTTPS://WWW.YouTube.COM/watch?v=abc123", "https://www.youtube.com/watch?v=abc123"),
        ("https://soundcloud.com/artist/track/", "https://soundcloud.com/artist/track"),
        ("https://soundcloud.com/artist/track///", "https://soundcloud.com/artist/track"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com/", "https://example.com/"),
        ("https://example.com/a#t=30", "https://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:80/a", "https://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("https://example.com/a?b=2&a=1", "https://example.com/a?a=1&b=2"),
        ("  https://example.com/a  ", "https://example.com/a"),
    ],
)
def test_given_a_url_when_normalized_then_noise_is_removed(given, expected):
    assert normalize_location(given) == expected


def test_given_a_url_when_normalized_then_the_path_keeps_its_case():
    """Paths (video ids, slugs) are case-sensitive on most platforms: only the host is lowered."""
    assert normalize_location("https://Example.com/Watch/AbC") == "https://example.com/Watch/AbC"


@pytest.mark.parametrize(
    "uri", ["s3://Partner-Bucket/Uploads/Clip.MP4", "s3://bucket/dir/", "s3://bucket/a?utm_source=x"]
)
def test_given_an_s3_uri_when_normalized_then_it_is_kept_as_given(uri):
    assert normalize_location(uri) == uri


def test_given_a_normalized_url_when_normalized_again_then_it_does_not_change():
    once = normalize_location("HTTP://Example.com:80/a/?utm_campaign=x&z=1&a=2#frag")
    assert normalize_location(once) == once


# --------------------------------------------------------------------------- case ids


def test_given_the_same_work_and_location_when_ids_are_made_then_they_are_equal():
    assert case_id_for("trk-1", "https://example.com/a") == case_id_for("trk-1", "https://example.com/a")


def test_given_two_spellings_of_one_location_then_they_give_one_case_id():
    assert case_id_for("trk-1", "https://example.com/a/?utm_source=x") == case_id_for("trk-1", "HTTPS://EXAMPLE.com/a")


def test_given_another_work_or_location_then_the_case_id_differs():
    base = case_id_for("trk-1", "https://example.com/a")
    assert case_id_for("trk-2", "https://example.com/a") != base
    assert case_id_for("trk-1", "https://example.com/b") != base


@pytest.mark.parametrize(
    ("track_id", "location"),
    [
        ("trk-1", "https://example.com/a"),
        ("a track id with spaces/and:colons", "https://example.com/ü?q=ä b"),
        ("x" * 500, "s3://bucket/" + "deep/" * 200 + "file name.mp3"),
        ("", ""),
    ],
)
def test_given_any_input_then_the_case_id_is_a_valid_execution_name(track_id, location):
    assert EXECUTION_NAME.match(case_id_for(track_id, location))


# --------------------------------------------------------------------------- Case / AuditEvent


def make_case(url="https://www.youtube.com/watch?v=abc&utm_source=x") -> Case:
    return Case.open(
        track_id="trk-0042",
        work={"title": "Midnight Harbour", "artist": "The Lanterns", "owner": "Example Records Ltd"},
        source=Source(partner="scanco", platform="youtube", url=url, bucket="b", key="k"),
        evidence={"score": 8.4, "false_match_rate": 4e-9},
        policy={"auto_approve": False},
        submission="ab" * 32,
    )


def test_given_a_source_when_a_case_is_opened_then_it_is_detected_under_its_normalized_location():
    case = make_case()
    assert case.status is Status.DETECTED
    assert case.location == "https://www.youtube.com/watch?v=abc"
    assert case.case_id == case_id_for("trk-0042", "https://www.youtube.com/watch?v=abc")
    assert (case.version, case.review_round, case.reviewer, case.review_id) == (1, 0, None, None)


def test_given_a_source_without_url_then_its_location_is_the_landing_object():
    case = make_case(url=None)
    assert case.location == "s3://b/k"


def test_given_a_case_when_round_tripped_through_a_dict_then_it_is_equal():
    case = make_case()
    d = case.to_dict()
    assert d["status"] == "DETECTED" and isinstance(d["source"], dict)
    assert Case.from_dict(d) == case


def test_given_a_dict_with_unknown_keys_when_loaded_then_they_are_ignored():
    case = make_case()
    assert Case.from_dict({**case.to_dict(), "added_by_a_newer_version": 1}) == case


def test_given_an_audit_event_then_to_dict_has_every_field():
    ev = AuditEvent("c", "2025-03-01T12:00:00.000Z", "system:ingest", "opened", None, "DETECTED", {"k": 1})
    assert ev.to_dict() == {"case_id": "c", "at": "2025-03-01T12:00:00.000Z", "actor": "system:ingest",
                            "action": "opened", "from_status": None, "to_status": "DETECTED", "detail": {"k": 1}}
