"""Signed review links, CSRF tokens and decision parsing (takedown_core.review_links)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from takedown_core.review_links import (
    REJECT_REASONS,
    Decision,
    DecisionInvalid,
    LinkError,
    csrf_token,
    parse_decision,
    review_url,
    sign_link,
    verify_csrf,
    verify_link,
)

KEY = b"k" * 32
OTHER_KEY = b"o" * 32
EXP = 1_767_268_800
NOW = EXP - 3600
LINK = dict(review_id="rv-123", case_id="case-abc", reviewer="alice@label.example", expires_at=EXP)


def sig_for(**overrides):
    return sign_link(KEY, **{**LINK, **overrides})


def verify(sig, *, key=KEY, now=NOW, **overrides):
    verify_link(key, **{**LINK, **overrides}, sig=sig, now=now)


def kind_of(fn, *args, **kwargs) -> str:
    with pytest.raises(LinkError) as err:
        fn(*args, **kwargs)
    return err.value.kind


# --------------------------------------------------------------------------- links


def test_given_a_signed_link_when_verified_with_the_same_parameters_then_it_is_accepted():
    verify(sig_for())


def test_given_a_signature_then_it_is_versioned_base64url_without_padding():
    sig = sig_for()
    assert sig.startswith("v1.")
    assert re.fullmatch(r"v1\.[A-Za-z0-9_-]{43}", sig)


def test_given_a_review_url_then_it_carries_only_id_expiry_and_signature():
    url = review_url("https://review.example/prod/", key=KEY, **LINK)
    parts = urlsplit(url)
    assert parts.path == "/prod/review/rv-123"
    q = parse_qs(parts.query)
    assert set(q) == {"exp", "sig"}
    assert q["exp"] == [str(EXP)] and q["sig"] == [sig_for()]
    assert "case-abc" not in url and "alice" not in url and "token" not in url.lower()


def test_given_the_expiry_as_query_text_when_verified_then_it_is_accepted():
    verify(sig_for(), expires_at=str(EXP))


def test_given_a_tampered_signature_when_verified_then_it_is_forged():
    sig = sig_for()
    body = sig[3:]
    flipped = ("A" if body[0] != "A" else "B") + body[1:]
    assert kind_of(verify, "v1." + flipped) == "forged"


def test_given_a_link_for_another_review_when_verified_then_it_is_forged():
    assert kind_of(verify, sig_for(review_id="rv-999")) == "forged"


def test_given_a_link_for_another_reviewer_when_verified_then_it_is_forged():
    assert kind_of(verify, sig_for(reviewer="mallory@label.example")) == "forged"


def test_given_a_link_for_another_case_when_verified_then_it_is_forged():
    assert kind_of(verify, sig_for(case_id="case-other")) == "forged"


def test_given_an_extended_expiry_when_verified_then_it_is_forged():
    assert kind_of(verify, sig_for(), expires_at=EXP + 86400) == "forged"


def test_given_another_key_when_verified_then_it_is_forged():
    assert kind_of(verify, sig_for(), key=OTHER_KEY) == "forged"


def test_given_an_expired_link_when_verified_then_it_is_expired():
    assert kind_of(verify, sig_for(), now=EXP) == "expired"
    assert kind_of(verify, sig_for(), now=EXP + 1) == "expired"


def test_given_an_expired_and_forged_link_when_verified_then_forged_wins():
    assert kind_of(verify, sig_for(reviewer="x"), now=EXP + 10) == "forged"


@pytest.mark.parametrize(
    "sig",
    ["", "nonsense", "v2." + "A" * 43, "v1.", "v1.!!!!", "v1." + "A" * 10, "v1." + "A" * 64, None, 123],
)
def test_given_a_malformed_signature_when_verified_then_it_is_malformed(sig):
    assert kind_of(verify, sig) == "malformed"


@pytest.mark.parametrize("exp", ["", "abc", "-5", "1e9", None, 1.5, True])
def test_given_a_malformed_expiry_when_verified_then_it_is_malformed(exp):
    assert kind_of(verify, sig_for(), expires_at=exp) == "malformed"


def test_given_a_rotated_key_when_verified_with_new_and_old_keys_then_old_links_still_work():
    old_sig = sig_for()
    verify(old_sig, key=[OTHER_KEY, KEY])
    assert kind_of(verify, old_sig, key=[OTHER_KEY]) == "forged"


def test_given_fields_that_would_collide_when_concatenated_then_signatures_differ():
    a = sign_link(KEY, review_id="ab", case_id="c", reviewer="r", expires_at=EXP)
    b = sign_link(KEY, review_id="a", case_id="bc", reviewer="r", expires_at=EXP)
    assert a != b


def test_given_a_short_key_when_signing_then_it_is_refused():
    with pytest.raises(ValueError):
        sign_link(b"short", **LINK)


# --------------------------------------------------------------------------- CSRF

CSRF = dict(review_id="rv-123", reviewer="alice@label.example", expires_at=EXP)


def test_given_a_csrf_token_when_verified_for_the_same_review_and_reviewer_then_it_is_accepted():
    verify_csrf(KEY, token=csrf_token(KEY, **CSRF), **CSRF, now=NOW)


def test_given_a_csrf_token_when_another_reviewer_posts_it_then_it_is_forged():
    token = csrf_token(KEY, **CSRF)
    assert kind_of(verify_csrf, KEY, token=token, **{**CSRF, "reviewer": "bob@label.example"}) == "forged"


def test_given_a_csrf_token_when_used_for_another_review_then_it_is_forged():
    token = csrf_token(KEY, **CSRF)
    assert kind_of(verify_csrf, KEY, token=token, **{**CSRF, "review_id": "rv-456"}) == "forged"


def test_given_a_link_signature_when_used_as_csrf_token_then_it_is_forged():
    # Domain separation: even with fields that line up, a link signature is not a CSRF token.
    assert csrf_token(KEY, **CSRF) != sig_for()
    assert kind_of(verify_csrf, KEY, token=sig_for(), **CSRF) == "forged"


def test_given_an_expired_csrf_token_when_verified_with_now_then_it_is_expired():
    token = csrf_token(KEY, **CSRF)
    assert kind_of(verify_csrf, KEY, token=token, **CSRF, now=EXP + 1) == "expired"


def test_given_a_garbage_csrf_token_then_it_is_malformed():
    assert kind_of(verify_csrf, KEY, token="<script>", **CSRF) == "malformed"


# --------------------------------------------------------------------------- decisions


def test_given_the_reject_reasons_then_they_are_the_agreed_short_list():
    assert REJECT_REASONS == {
        "not_our_work": "Not our work",
        "licensed": "Licensed / authorised use",
        "fair_use": "Fair use or parody",
        "insufficient_match": "Insufficient match",
        "other": "Other (explain)",
    }


def test_given_an_approval_without_note_then_the_decision_is_approve():
    assert parse_decision({"decision": "approve"}) == Decision("approve", None, None)


def test_given_an_approval_with_note_and_stray_reason_then_the_note_is_kept_and_reason_dropped():
    d = parse_decision({"decision": "approve", "note": "  clear copy \r\n", "reason": "licensed"})
    assert d == Decision("approve", None, "clear copy")
    assert d.approved and d.to_dict() == {"decision": "approve", "reason": None, "note": "clear copy"}


def test_given_a_reject_with_reason_then_the_decision_is_reject_with_that_reason():
    d = parse_decision({"decision": "reject", "reason": "fair_use", "note": ""})
    assert d == Decision("reject", "fair_use", None)
    assert d.reason_label == "Fair use or parody"


def test_given_form_values_as_lists_when_parsed_then_single_values_are_used():
    assert parse_decision({"decision": ["reject"], "reason": ["licensed"]}).reason == "licensed"


@pytest.mark.parametrize(
    "form, words",
    [
        ({}, "approve or reject"),
        ({"decision": "maybe"}, "Unknown decision"),
        ({"decision": "reject"}, "reason"),
        ({"decision": "reject", "reason": "bored"}, "Unknown reason"),
        ({"decision": "reject", "reason": "other"}, "Explain"),
        ({"decision": "reject", "reason": "other", "note": "   "}, "Explain"),
        ({"decision": "approve", "note": "x" * 1001}, "too long"),
        ({"decision": ["approve", "reject"]}, "more than once"),
    ],
)
def test_given_an_invalid_form_when_parsed_then_decision_invalid_says_why(form, words):
    with pytest.raises(DecisionInvalid) as err:
        parse_decision(form)
    assert words.lower() in err.value.message.lower()


def test_given_other_with_explanation_then_it_is_accepted():
    d = parse_decision({"decision": "reject", "reason": "other", "note": "Cover by a licensee"})
    assert d == Decision("reject", "other", "Cover by a licensee")


def test_given_a_note_of_exactly_1000_characters_then_it_is_accepted():
    assert len(parse_decision({"decision": "approve", "note": "x" * 1000}).note) == 1000
