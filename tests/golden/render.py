"""A fixed set of inputs rendered by the product: evidence, review pages, e-mails, notices.

Refactors that must not change behaviour (issue 14) are checked by hashing every artefact
this module makes before and after: ``hashes.json`` beside it holds the reference hashes,
``tests/unit/test_golden.py`` compares, and

    .venv/bin/python -m tests.golden.render            # print name -> sha256
    .venv/bin/python -m tests.golden.render --write    # record them in hashes.json
    .venv/bin/python -m tests.golden.render --dump DIR # write every artefact, to diff two runs

The evidence comes from the real engine (decode, extract, search, decide, with one index and
with the same index searched by fan-out) on deterministic synthetic music; the pages, e-mails
and notices are rendered from that evidence and from hand-made cases that exercise hostile
text, stay-down approvals, decode damage and long values. Nothing depends on the clock.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
HASHES = HERE / "hashes.json"

EXP = 1_767_268_800
NOW = EXP - 2 * 86400 - 3 * 3600
NOW_ISO = "2026-01-01T09:00:00.000Z"
URL = "https://review.label.example/review/rv-7f3a?exp=1767268800&sig=v1.abc"
QUEUE_URL = "https://review.label.example/queue?reviewer=alice@label.example&exp=1767268800&sig=v1.q"
EVIL = "<script>alert(1)</script>"
EVIL_ATTR = '"><img src=x onerror=alert(2)>'
COMPLAINANT = {
    "name": "Jane Doe", "organisation": "Example Records Ltd",
    "address": "1 Harbour Street, London N1 1AA, United Kingdom", "phone": "+44 20 7946 0000",
    "email": "rights@label.example", "signature": "Jane Doe",
}
PLATFORMS = {
    "DMCA": {"name": "YouTube", "law": "DMCA", "channel": "email", "address": "copyright@youtube.example"},
    "DSA": {"name": "SoundCloud", "law": "DSA", "channel": "email", "address": "dsa@soundcloud.example"},
}
# A likeness complaint's two routes (platforms.<id>.likeness in cdk.json).
LIKENESS_PLATFORMS = {
    "LIKENESS-US-ROP": {**PLATFORMS["DMCA"], "likeness": {
        "channel": "email", "address": "privacy@youtube.example", "law": "US-ROP",
        "policy": "YouTube's impersonation policy and its privacy guidelines for AI-generated content",
        "basis": "the right of publicity, including Tennessee's Personal Rights Protection Act as amended by the "
                 "ELVIS Act of 2024 (Tenn. Code Ann. § 47-25-1101 et seq.)"}},
    "LIKENESS-DSA": {**PLATFORMS["DSA"], "likeness": {
        "channel": "email", "address": "dsa@soundcloud.example", "law": "DSA",
        "basis": "the general right of personality under German law (Art. 2(1) with Art. 1(1) Basic Law; "
                 "§§ 823(1), 1004 Civil Code)"}},
}
LIKENESS = {
    "artists": [{"id": "lanterns", "name": "The Lanterns", "aliases": ["Lanterns", "Лантернс"]},
                {"id": "evil", "name": EVIL, "aliases": [EVIL_ATTR]}],
    "terms": {"en": ["ai", "ai cover", "rvc", "voice model", "not real"], "de": ["ki cover"], "es": ["cover ia"]},
}
POLICY_DECISION = {
    "decision": "approve", "by": "policy:stay-down", "at": "2026-11-02T09:00:00.000Z",
    "basis": {"case_id": "case-earlier", "location": "https://www.youtube.com/watch?v=first", "platform": "youtube",
              "status": "NOTICE_SENT", "notice_sent_at": "2026-10-20T10:00:00.000Z",
              "reviewed": {"case_id": "case-earlier", "at": "2026-10-20T09:30:00.000Z"}},
}


def _canon(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str).encode()


# --------------------------------------------------------------------------- evidence


def engine_evidence(tmp: Path) -> dict[str, Any]:
    """name -> the matcher's answer (best, others, info) and the case's bounded evidence."""
    import numpy as np

    from takedown_adapters.matcher import ShardIndexes, match_shards
    from takedown_core.engine import DEFAULT_PARAMS, Index, IndexWriter
    from takedown_core.evidence import bound_evidence, evidence_document, query_document
    from takedown_core.matching import EngineMatcher, FanOutMatcher, shard_groups
    from takedown_local.media import add_white_noise, resample_linear, synth_track, write_audio

    sr = DEFAULT_PARAMS.sample_rate
    tracks = {f"t{i}": synth_track(900 + i, 40.0, sr) for i in range(6)}
    w = IndexWriter()
    for tid, x in tracks.items():
        w.add(tid, x, duration_s=x.size / sr, metadata={"title": f"Work {tid}", "artist": "The Lanterns",
                                                      "isrc": f"GBXYZ24000{tid[1:]}"})
    w.add("t0-remaster", tracks["t0"][: 30 * sr] * 0.8, duration_s=30.0, metadata={"title": "Work t0 (remaster)"})
    root = tmp / "v1"
    w.write(root, shard_count=3)
    index = Index.open(root, mmap=True)

    def clip(x: np.ndarray, start: float, seconds: float) -> np.ndarray:
        return x[int(start * sr): int((start + seconds) * sr)]

    uploads = {
        "copy": clip(tracks["t1"], 5.0, 12.0),
        "noisy": add_white_noise(clip(tracks["t2"], 10.0, 12.0), 3.0, seed=5),
        "sped_up": resample_linear(clip(tracks["t3"], 4.0, 14.0), 1.04),
        "remastered": clip(tracks["t0"], 8.0, 12.0),
        "unrelated": synth_track(4242, 12.0, sr),
        "overlay": clip(tracks["t4"], 3.0, 12.0) * 0.5 + synth_track(4343, 12.0, sr) * 0.9,
    }

    class Store:
        bucket = "local"

        def fetch(self, version, shards=None, *, digest=None):
            return root

    def invoke(request):
        return json.loads(json.dumps(match_shards(ShardIndexes(Store()), json.loads(json.dumps(request)))))

    matchers = {
        "single": EngineMatcher(index, "v1", max_seconds=60.0, max_false_match_rate=1e-4, digest="d" * 64),
        "fanout": FanOutMatcher(Index.open(root, mmap=True, shards=[]), "v1", groups=shard_groups(3, 2), search=invoke,
                                max_seconds=60.0, max_false_match_rate=1e-4, digest="d" * 64),
    }
    out: dict[str, Any] = {}
    for name, samples in uploads.items():
        path = tmp / f"{name}.flac"
        write_audio(path, samples, sr)
        for how, matcher in matchers.items():
            answer = matcher.match(str(path))
            best = answer.result.best.to_dict() if answer.result.best else None
            others = [m.to_dict() for m in answer.result.others]
            out[f"evidence/{how}/{name}/matcher"] = [best, others, query_document(answer)]
            full = evidence_document(answer)
            if full is not None:
                out[f"evidence/{how}/{name}/bounded"] = bound_evidence(full, ref=f"s3://evidence/submissions/{name}.json")
    return out


# --------------------------------------------------------------------------- cases


def _case(*, evidence: dict[str, Any], title="Midnight Harbour (sped up)", uploader="nightcore_fan",
          url="https://www.youtube.com/watch?v=abc", work_title="Midnight Harbour", artist="The Lanterns",
          platform="youtube", owner="Example Records Ltd", decision=None) -> dict[str, Any]:
    from takedown_core.cases import Case, Source

    case = Case.open(
        track_id="trk-0042",
        work={"title": work_title, "artist": artist, "isrc": "GBXYZ2400123", "owner": owner, "territories": ["WW"]},
        source=Source(partner="scanco", platform=platform, url=url, uploader=uploader, title=title,
                      partner_ref="SC-1", bucket="partner-scanco", key="in/a.mp4", territory="DE"),
        evidence=evidence, policy={"max_false_match_rate": 1e-4, "auto_approve": False}, submission="ab" * 32,
    ).to_dict()
    case["created_at"] = case["updated_at"] = "2026-01-01T08:00:00.000Z"
    case["decision"] = decision
    return case


def _landmarks(n: int, offset: float = 65.2, speed: float = 1.06) -> list[list[float]]:
    import random

    rng = random.Random(n)
    pts = sorted(12 + rng.random() * 40 for _ in range(n))
    return [[round(q, 3), round(offset + speed * q + rng.gauss(0, 0.05), 3)] for q in pts]


HAND_EVIDENCE = {
    "track_id": "trk-0042", "metadata": {}, "score": 8.398, "false_match_rate": 4e-9, "transform": "speed",
    "offset_s": 52.5, "query_start_s": 12.0, "matched_duration_s": 40.0, "speed": 1.06, "pitch_semitones": 1.0,
    "aligned_hashes": 120, "landmarks": _landmarks(120), "salient_share": 0.62, "salient_peaks": 50,
    "salient_confirmed": 31,
    "others": [{"track_id": "trk-0043", "metadata": {"title": "Midnight Harbour (live)", "artist": "The Lanterns"},
                "score": 5.1, "false_match_rate": 8e-6, "offset_s": 50.0, "query_start_s": 12.0,
                "matched_duration_s": 30.0, "speed": 1.06, "pitch_semitones": 1.0, "salient_share": 0.4}],
    "others_total": 1,
    "query": {"query_duration_s": 60.0, "query_hashes": 900, "max_false_match_rate": 1e-4,
              "decode": {"bad_packets": 14, "capped": False, "claimed_s": 60.0, "decoded_s": 41.5,
                         "downmix": "mono", "packets": 520, "partial": True, "stopped_by": "demuxer",
                         "stream_changes": 1}},
}


def cases(evidence: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """name -> Case.to_dict() that the pages, e-mails and notices are rendered from."""
    out = {
        "hand": _case(evidence=copy.deepcopy(HAND_EVIDENCE)),
        "hostile": _case(evidence=copy.deepcopy(HAND_EVIDENCE), title=EVIL, uploader=EVIL_ATTR, work_title=EVIL,
                         artist=EVIL_ATTR, url='javascript:alert(1)//"><b>x</b>'),
        "long": _case(evidence={**copy.deepcopy(HAND_EVIDENCE), "landmarks": _landmarks(400, speed=0.97)},
                      title="x" * 500, work_title="Ein sehr langer Titel " * 20, uploader="u" * 300,
                      url="https://soundcloud.com/" + "a" * 400, platform="soundcloud"),
        "empty_evidence": _case(evidence={}, url=None, platform="tiktok"),
        "stay_down": _case(evidence=copy.deepcopy(HAND_EVIDENCE), decision=POLICY_DECISION),
        "reviewed": _case(evidence=copy.deepcopy(HAND_EVIDENCE), decision={"decision": "approve",
                                                                          "by": "alice@label.example",
                                                                          "at": "2026-01-01T10:00:00.000Z"}),
    }
    out["partial"] = {**_case(evidence=copy.deepcopy(HAND_EVIDENCE), title="my cover (karaoke version)"),
                      "kind": "partial"}
    for name, ev in evidence.items():
        if name.startswith("evidence/single/") and name.endswith("/bounded"):
            out["engine_" + name.split("/")[2]] = _case(evidence=copy.deepcopy(ev))
    return out


def likeness_cases() -> dict[str, dict[str, Any]]:
    """name -> a case opened for an artist's likeness (kind, and the LikenessSignal found in
    its metadata as ``likeness``), from which likeness complaints are rendered and copyright
    notices refused."""
    from takedown_core.likeness import LikenessRules

    rules = LikenessRules.from_config(LIKENESS)
    reviewed = {"decision": "approve", "by": "alice@label.example", "at": "2026-01-01T10:00:00.000Z"}
    made = {
        "deepfake": dict(title="Lanterns - Midnight Harbour (AI cover)", uploader="AI Covers Daily",
                         description="RVC v2 voice model. Not real!", tags=("the lanterns", "ki cover")),
        "deepfake_cyrillic": dict(title="Лантернс — Полночь (cover IA)", uploader="someone", description=None, tags=()),
        "deepfake_hostile": dict(title=f"{EVIL} (AI cover)", uploader=EVIL_ATTR, description=f"{EVIL_ATTR} rvc",
                                 tags=(EVIL,)),
        "ai_cover": dict(title="The Lanterns - Midnight Harbour (AI cover)", uploader="covers", description=None,
                         tags=("rvc",)),
    }
    out = {}
    for name, meta in made.items():
        kind = "suspected_ai_cover" if name == "ai_cover" else "suspected_deepfake"
        case = _case(evidence=copy.deepcopy(HAND_EVIDENCE) if kind == "suspected_ai_cover" else {},
                     title=meta["title"], uploader=meta["uploader"], decision=reviewed,
                     url=f"https://www.youtube.com/watch?v={name}")
        case["source"].update(description=meta["description"], tags=list(meta["tags"]))
        if kind == "suspected_deepfake":
            case["work"], case["track_id"] = {}, ""
        case["kind"] = kind
        case["likeness"] = rules.find({**meta, "tags": list(meta["tags"])}).to_dict()
        out[name] = case
    return out


# --------------------------------------------------------------------------- renderings


def renderings(evidence: dict[str, Any]) -> dict[str, Any]:
    from takedown_core.emails import digest_email, review_request_email
    from takedown_core.notices import NoticeIncomplete, render_likeness_complaint, render_notice
    from takedown_core.pages import (
        PROBLEMS,
        SECURITY_HEADERS,
        decided_page,
        message_page,
        problem_page,
        queue_page,
        review_page,
    )

    out: dict[str, Any] = {"pages/security_headers": SECURITY_HEADERS}
    all_cases = cases(evidence)
    for name, case in all_cases.items():
        for round_ in (0, 2):
            review = {"review_id": "rv-7f3a", "reviewer": "alice@label.example", "expires_at": EXP, "round": round_}
            out[f"pages/review/{name}/round{round_}"] = review_page(
                case=case, review=review, action_url="/review/rv-7f3a", csrf="c" * 43, exp=EXP, sig="v1.sig", now=NOW,
                queue_url="../queue?reviewer=alice@label.example&exp=1&sig=v1.q" if round_ else None)
        for field, chosen in (("reason", {"decision": "reject", "reason": "", "note": EVIL}),
                              ("note", {"decision": "reject", "reason": "other", "note": ""}),
                              ("note", {"decision": "approve", "note": "x" * 1200 + EVIL_ATTR})):
            out[f"pages/review/{name}/form_error/{chosen['decision']}/{field}"] = review_page(
                case=case, review={"review_id": "rv-7f3a", "reviewer": "alice@label.example", "expires_at": EXP,
                                   "round": 0},
                action_url="/review/rv-7f3a", csrf="c" * 43, exp=EXP, sig="v1.sig", now=NOW,
                error=f"The {field} is wrong {EVIL}.", error_field=field, chosen=chosen)
        out[f"pages/review/{name}/error"] = review_page(
            case=case, review={"review_id": "rv-7f3a", "reviewer": EVIL, "expires_at": EXP, "round": 1},
            action_url="/review/rv-7f3a", csrf="c" * 43, exp=EXP, sig="v1.sig", now=EXP - 600,
            error="Choose a reason for rejecting <b>this</b>.")
        for kind in ("request", "reminder", "escalation"):
            out[f"emails/{kind}/{name}"] = review_request_email(case, url=URL, reviewer="alice@label.example",
                                                                expires_at=EXP, round=1 if kind != "request" else 0,
                                                                kind=kind, queue_url=QUEUE_URL)
        for law, platform in PLATFORMS.items():
            try:
                n = render_notice(case, law=law, complainant=COMPLAINANT, platform=platform, now=NOW_ISO)
                out[f"notices/{law}/{name}"] = n.to_dict()
            except NoticeIncomplete as e:
                out[f"notices/{law}/{name}"] = {"incomplete": str(e), "missing": getattr(e, "missing", None)}
        out[f"pages/decided/approve/{name}"] = decided_page(decision={"decision": "approve"}, reviewer="alice@label.example",
                                                            case=case, at="2026-01-01T10:00:00.000Z",
                                                            queue_url="../../queue?reviewer=a&exp=1&sig=v1.q")
        out[f"pages/decided/reject/{name}"] = decided_page(decision={"decision": "reject", "reason": "licensed"},
                                                           reviewer=EVIL, case=case)
    for name, case in likeness_cases().items():
        out[f"likeness/{name}/signal"] = case["likeness"]
        out[f"pages/review/{name}/round0"] = review_page(
            case=case, review={"review_id": "rv-7f3a", "reviewer": "alice@label.example", "expires_at": EXP, "round": 0},
            action_url="/review/rv-7f3a", csrf="c" * 43, exp=EXP, sig="v1.sig", now=NOW)
        out[f"emails/request/{name}"] = review_request_email(case, url=URL, reviewer="alice@label.example",
                                                             expires_at=EXP, round=0, kind="request")
        for law, platform in LIKENESS_PLATFORMS.items():
            try:
                n = render_likeness_complaint(case, complainant=COMPLAINANT, platform=platform, now=NOW_ISO)
                out[f"notices/{law}/{name}"] = n.to_dict()
            except NoticeIncomplete as e:
                out[f"notices/{law}/{name}"] = {"incomplete": str(e), "missing": getattr(e, "missing", None)}
        for law, platform in PLATFORMS.items():  # a copyright notice is made for the AI cover only
            try:
                out[f"notices/{law}/{name}"] = render_notice(case, law=law, complainant=COMPLAINANT, platform=platform,
                                                             now=NOW_ISO).to_dict()
            except NoticeIncomplete as e:
                out[f"notices/{law}/{name}"] = {"refused": type(e).__name__, "incomplete": str(e), "missing": e.missing}
    out["emails/digest"] = digest_email([(c, URL, EXP) for c in all_cases.values()], reviewer="alice@label.example",
                                        queue_url=QUEUE_URL)
    waiting = [*all_cases.values(), *likeness_cases().values()]
    out["pages/queue"] = queue_page(reviewer="alice@label.example", now=NOW, expires_at=EXP, entries=[
        {"case": {**c, "created_at": f"2026-01-01T0{i % 10}:00:00.000Z"},
         "link": None if i == 2 else f"review/rv-{i}?exp={EXP}&sig=v1.s", "expires_at": EXP - i * 3600}
        for i, c in enumerate(waiting)])
    out["pages/queue/empty"] = queue_page(reviewer=EVIL_ATTR, now=NOW, expires_at=EXP, entries=[])
    out["emails/digest_hostile"] = digest_email([(all_cases["hostile"], URL)], reviewer=EVIL_ATTR)
    for problem in sorted(PROBLEMS):
        out[f"pages/problem/{problem}"] = problem_page(problem)
        out[f"pages/problem/{problem}/detail"] = problem_page(problem, detail=EVIL)
    for kind in ("info", "success", "warning", "error"):
        out[f"pages/message/{kind}"] = message_page("A title " + EVIL, "A message " + EVIL_ATTR, kind=kind, detail="d")
    return out


def artefacts() -> dict[str, bytes]:
    """name -> the exact bytes of every artefact (JSON for structured ones)."""
    with tempfile.TemporaryDirectory(prefix="golden-") as tmp:
        evidence = engine_evidence(Path(tmp))
    made: dict[str, Any] = {**evidence, **renderings(evidence)}
    return {name: (value.encode() if isinstance(value, str) else _canon(value)) for name, value in sorted(made.items())}


def hashes(made: dict[str, bytes] | None = None) -> dict[str, str]:
    return {name: hashlib.sha256(data).hexdigest() for name, data in (made or artefacts()).items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write", action="store_true", help="record the hashes in tests/golden/hashes.json")
    ap.add_argument("--dump", metavar="DIR", help="write every artefact under DIR")
    args = ap.parse_args(argv)
    made = artefacts()
    got = hashes(made)
    if args.dump:
        for name, data in made.items():
            p = Path(args.dump) / (name + (".json" if data[:1] in (b"{", b"[") else ".html"))
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
    if args.write:
        HASHES.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    json.dump(got, sys.stdout, indent=1, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
