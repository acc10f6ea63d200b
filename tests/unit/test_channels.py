"""The platform registry's routes, the HMAC scheme and the e-mail channel's message."""

from __future__ import annotations

import json
from email import message_from_bytes
from email.policy import default

import pytest

from takedown_core.channels import (
    COPYRIGHT,
    LIKENESS,
    EmailChannel,
    Outgoing,
    RegistryError,
    routes,
    sign,
    validate_registry,
    verify,
)

pytestmark = pytest.mark.usefixtures("no_network")

YT = {"name": "YouTube", "law": "DMCA", "channel": "email", "address": "copyright@youtube.example",
      "likeness": {"channel": "email", "address": "privacy@youtube.example", "law": "US-ROP", "basis": "x"}}


def test_routes_follow_the_registry_and_keep_the_old_slots():
    r = routes("youtube", YT)
    assert set(r) == {COPYRIGHT, LIKENESS}
    assert r[COPYRIGHT].slot == "email:copyright@youtube.example"  # as before the registry: no double notice
    assert r[LIKENESS].slot == "likeness:email:privacy@youtube.example" and r[LIKENESS].law == "US-ROP"
    assert set(routes("x", {**YT, "notice_types": ["copyright"]})) == {COPYRIGHT}


@pytest.mark.parametrize("doc,where", [
    ({**YT, "channel": "fax"}, "platforms.youtube.channel"),
    ({**YT, "address": ""}, "platforms.youtube.address"),
    ({**YT, "address": "https://youtube.example/form"}, "platforms.youtube.address"),
    ({**YT, "channel": "api", "address": "http://api.youtube.example/n", "api": {"secret": "s"}}, "https://"),
    ({**YT, "channel": "api", "address": "https://api.youtube.example/n"}, "platforms.youtube.api.secret"),
    ({**YT, "notice_types": ["copyright", "trademark"]}, "platforms.youtube.notice_types"),
    ({k: v for k, v in YT.items() if k != "likeness"} | {"notice_types": ["likeness"]}, "platforms.youtube.likeness"),
    ({**YT, "rate_limit": {"per_seconds": 60}}, "platforms.youtube.rate_limit"),
    ({**YT, "rate_limit": {"notices": 0, "per_seconds": 60}}, "platforms.youtube.rate_limit"),
])
def test_a_malformed_registry_names_the_key(doc, where):
    with pytest.raises(RegistryError, match=where.replace(".", r"\.")):
        validate_registry({"youtube": doc})


def test_an_api_route_on_loopback_is_allowed_for_the_local_platform():
    r = routes("p", {"law": "DSA", "channel": "api", "address": "http://127.0.0.1:8123/p/notices",
                     "api": {"secret": "takedown/dev/p"}, "rate_limit": {"notices": 5, "per_seconds": 1}})
    assert r[COPYRIGHT].rate_limit.notices == 5 and r[COPYRIGHT].rate_key == "p:api:http://127.0.0.1:8123/p/notices"


def test_the_signature_verifies_and_a_changed_body_or_an_old_request_does_not():
    header = sign(b"k", 1_700_000_000, b'{"a":1}')
    assert verify(b"k", header, b'{"a":1}', now=1_700_000_100)
    assert not verify(b"k", header, b'{"a":2}', now=1_700_000_100)
    assert not verify(b"other", header, b'{"a":1}', now=1_700_000_100)
    assert not verify(b"k", header, b'{"a":1}', now=1_700_001_000)  # replayed 1,000 s later
    assert not verify(b"k", "garbage", b"", now=0)


def test_the_email_channel_prepares_text_html_and_the_document_as_one_message():
    class Mailer:
        def send_raw(self, *, to, data):
            self.sent = (to, data)
            return "ses-1"

    route = routes("youtube", YT)[COPYRIGHT]
    out = Outgoing("case-1", route, "DMCA notice (ref. case-1)", "Plain text — with a dash\n", "<p>html</p>",
                   {"schema": "takedown-notice/1", "case_id": "case-1"}, law="DMCA")
    mailer = Mailer()
    channel = EmailChannel(mailer, sender="takedowns@label.example", clock=lambda: 1_700_000_000)
    prepared = channel.prepare(out)
    receipt = channel.deliver(prepared)
    assert receipt.provider_id == "ses-1" and mailer.sent == (["copyright@youtube.example"], prepared.body)
    msg = message_from_bytes(prepared.body, policy=default)
    assert msg["To"] == "copyright@youtube.example" and msg["Message-ID"].endswith("@label.example>")
    assert msg.get_body(("plain",)).get_content().replace("\r\n", "\n") == "Plain text — with a dash\n"  # CRLF on the wire
    assert msg.get_body(("html",)).get_content().strip() == "<p>html</p>"
    [att] = list(msg.iter_attachments())
    assert att.get_filename() == "notice.json" and json.loads(att.get_content())["case_id"] == "case-1"


@pytest.mark.parametrize("subject", [
    "[copy] Notice of illegal content (DSA Art. 16): copyright in “Track3 Enhanced” (ref. case-7d701184abcdef0123)",
    "[copy] Notice of illegal content (DSA Art. 16): copyright in “Track20” (ref. case-7d701184abcdef0123)",
    "DMCA notice of copyright infringement: “Été  à  Montréal, a title long enough to need three lines” (ref. c-1)",
    "A plain ASCII subject long enough that the header must be folded over two lines (ref. case-7d701184abcdef0123)",
])
def test_a_subject_reads_back_exactly_and_its_header_lines_stay_short(subject):
    """The email package folds an encoded word at a space and the space is lost on reading
    (a reader saw "copyright in  “Track3Enhanced”"): every space and character comes back."""
    from takedown_core.channels import mime_message

    raw = mime_message(sender="a@label.example", to=["x@youtube.example"], subject=subject, text="t", html=None,
                       document=None, date="Wed, 02 Dec 2026 13:00:00 +0000", message_id="<1@label.example>")
    assert message_from_bytes(raw, policy=default)["Subject"] == subject
    head = raw.split(b"\r\n\r\n")[0]
    assert max(len(line) for line in head.split(b"\r\n")) <= 78 and head.isascii()
