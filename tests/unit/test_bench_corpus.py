"""The benchmark's corpus bookkeeping (bench/fingerprint.py): no audio, no network."""

from __future__ import annotations

import numpy as np
import pytest

from bench.fingerprint import (
    MASTER_RATE,
    QuerySpec,
    by_source,
    cap_per_source,
    fp_split,
    share_sweep,
    shared_audio_ncc,
    split_families,
    totals,
    verify_negatives,
)


def _spec(track: str, in_cat: bool, cond: str = "clean", seconds: int = 10) -> QuerySpec:
    return QuerySpec(track, in_cat, cond, seconds, 12.0, 1)


def _answer(spec: QuerySpec, track: str | None) -> dict:
    return {"key": spec.key, "track": track, "offset_s": spec.start_s if track else None, "cpu_ms": 1.0}


def test_cap_per_source_is_seeded_keeps_families_whole_and_spares_kept_packages():
    sources = {f"a_t{i}": "pkg-a" for i in range(10)} | {"b_x": "pkg-b", "b_x_enhanced": "pkg-b", "b_y": "pkg-b"}
    sources |= {f"w{i}": "default" for i in range(6)}
    one = cap_per_source(sources, 2, np.random.default_rng([1, 0xC0]), keep={"default"})
    two = cap_per_source(sources, 2, np.random.default_rng([1, 0xC0]), keep={"default"})
    assert one == two
    assert sum(p == "pkg-a" for p in one.values()) == 2
    assert sum(p == "default" for p in one.values()) == 6
    chosen_b = {n for n, p in one.items() if p == "pkg-b"}
    assert ("b_x" in chosen_b) == ("b_x_enhanced" in chosen_b)  # a family is never cut
    assert cap_per_source(sources, 0, np.random.default_rng(0), keep=set()) == sources


def test_split_never_puts_a_held_out_package_in_the_catalogue():
    names = [f"a{i}" for i in range(9)] + [f"h{i}" for i in range(4)]
    sources = {n: ("held" if n.startswith("h") else "kept") for n in names}
    cat = split_families(names, sources, np.random.default_rng(3), holdout={"held"})
    assert len(cat) == 6 and all(f.startswith("a") for f in cat)
    # without a hold-out it is the default corpus's split: two thirds of all families
    assert len(split_families(names, sources, np.random.default_rng(3))) == 9


def test_false_positives_split_by_query_source_and_by_answer_source():
    sources = {"a1": "A", "a2": "A", "a3": "A", "b1": "B", "c1": "C"}
    catalogue = ["a1", "b1"]
    neg = [_spec("a2", False), _spec("a3", False), _spec("c1", False), _spec("c1", False, "mp3_64k")]
    pos = [_spec("a1", True), _spec("b1", True)]
    answers = {
        neg[0].key: _answer(neg[0], "a1"),  # same source, answered by its own package
        neg[1].key: _answer(neg[1], None),
        neg[2].key: _answer(neg[2], "b1"),  # C has nothing in the catalogue
        neg[3].key: _answer(neg[3], None),
        pos[0].key: _answer(pos[0], "a1"),
        pos[1].key: _answer(pos[1], "a1"),  # wrong track
    }
    split = fp_split(neg + pos, answers, sources, catalogue)
    assert split["fp_same_source"] == 0.5 and split["negatives_same_source"] == 2
    assert split["fp_other_sources"] == 0.5 and split["negatives_other_sources"] == 2
    assert split["fp_answer_own_source"] == 0.25 and split["fp_answer_other_source"] == 0.25

    rows = by_source(neg + pos, answers, sources, catalogue, {n: 3600.0 for n in sources})
    assert rows["A"]["recall_10s"] == 1.0 and rows["A"]["false_positive_10s"] == 0.5
    assert rows["B"]["recall_10s"] == 0.0 and rows["B"]["wrong_track_10s"] == 1.0
    assert rows["C"]["recall_10s"] is None and rows["C"]["negatives_10s"] == 2
    assert (rows["A"]["catalogue"], rows["A"]["non_catalogue"], rows["A"]["hours"]) == (1, 2, 3.0)


def test_the_content_share_sweep_counts_what_each_bar_would_answer():
    # Given a copy matched with share 0.4, a noisy copy held back at 0.12, a copy whose
    # evidence had no content check (None), and a negative over a shared loop at 0.2
    copy, noisy, unjudged = _spec("t1", True), _spec("t2", True, "white_0db"), _spec("t3", True)
    loop = _spec("n1", False)
    answers = {
        copy.key: {**_answer(copy, "t1"), "shares": [["t1", 0.4]]},
        noisy.key: {**_answer(noisy, None), "shares": [["t2", 0.12]]},
        unjudged.key: {**_answer(unjudged, "t3"), "shares": [["t3", None]]},
        loop.key: {**_answer(loop, "t9"), "shares": [["t9", 0.2]]},
    }
    rows = {r["bar"]: r for r in share_sweep([copy, noisy, unjudged, loop], answers, bars=(0.1, 0.15, 0.25, 0.5))}
    assert rows[0.1]["recall"] == 1.0 and rows[0.1]["false_positive"] == 1.0
    assert rows[0.15]["recall"] == 2 / 3 and rows[0.15]["recall_by_condition"] == {"clean": 1.0, "white_0db": 0.0}
    assert rows[0.25]["false_positive"] == 0.0 and rows[0.25]["recall"] == 2 / 3
    assert rows[0.5]["recall"] == 1 / 3  # only the unjudged copy is left


def _noise(seed: int, seconds: float) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(int(seconds * MASTER_RATE)).astype(np.float32)


def test_the_shared_audio_check_tells_a_shared_passage_from_a_lookalike():
    # Given a reference = a 2 s loop (repeated) + its own quieter part, and a non-catalogue
    # track that plays the same loop recording under a different part from 40 s on
    loop = np.tile(_noise(1, 2.0), 60)
    ref = loop + 0.5 * _noise(2, 120.0)
    other = np.concatenate([_noise(3, 40.0), loop[: int(60 * MASTER_RATE)]]) + _noise(4, 100.0)
    # the reference holds that excerpt's loop at the claimed alignment (offset 10 s) ...
    shared = shared_audio_ncc(other, 50.0, 10.0, ref, 10.0)
    assert 0.58 < shared < 0.68  # shared energy / sqrt(2 * 1.25): NCC ~ 0.63
    # ... a copy correlates fully, and a look-alike (the same kind of signal, none of the
    # reference's audio) does not
    assert shared_audio_ncc(ref, 30.0, 10.0, ref, 30.0) > 0.99
    assert shared_audio_ncc(other, 5.0, 10.0, ref, 10.0) < 0.1
    # a window outside either track is skipped, not an error
    assert shared_audio_ncc(other, 95.0, 10.0, ref, 118.0) == 0.0

    # verify_negatives records every checked candidate; totals separate the answers that
    # hold the excerpt's audio from the false ones
    a, b, c = QuerySpec("n1", False, "clean", 10, 50.0, 1), QuerySpec("n1", False, "clean", 10, 5.0, 2), _spec("r", True)
    answers = {
        a.key: {**_answer(a, "r"), "score": 20.0, "shares": [["r", 0.3, 10.0]]},
        b.key: {**_answer(b, "r"), "score": 8.0, "shares": [["r", 0.25, 10.0]]},
        c.key: {**_answer(c, "r"), "score": 60.0, "shares": [["r", 0.9, 12.0]]},
    }
    masters = {"n1": other, "r": ref}
    check = verify_negatives([a, b, c], answers, masters.__getitem__, seed=1)
    assert check["checked"] == 2 and check["null_max"] < 0.2
    assert answers[a.key]["shared_audio"]["r"][0] > 0.58 and answers[b.key]["shared_audio"]["r"][0] < 0.1
    assert "shared_audio" not in answers[c.key]  # catalogue excerpts are not checked
    t = totals([a, b, c], answers)
    assert t["false_positive"] == 1.0 and t["false_positive_no_shared_audio"] == 0.5 and t["shared_audio_answers"] == 1
    sweep = {r["bar"]: r for r in share_sweep([a, b, c], answers, bars=(0.2, 0.28))}
    assert sweep[0.2]["false_positive_no_shared_audio"] == 0.5 and sweep[0.28]["false_positive_no_shared_audio"] == 0.0


def test_a_sustained_tone_of_the_same_pitch_is_not_shared_audio():
    # Given two different tracks over a held 220 Hz pad: the pad correlates at any lag,
    # reversed too, so the check's null catches it
    t = np.arange(int(60 * MASTER_RATE)) / MASTER_RATE
    pad = np.sin(2 * np.pi * 220.0 * t).astype(np.float32)
    ref, other = pad + 0.5 * _noise(5, 60.0), pad + 0.5 * _noise(6, 60.0)
    spec = QuerySpec("n2", False, "clean", 10, 20.0, 1)
    answers = {spec.key: {**_answer(spec, "r"), "score": 6.0, "shares": [["r", 0.3, 31.0]]}}
    verify_negatives([spec], answers, {"n2": other, "r": ref}.__getitem__, seed=2)
    ncc, null, component, component_null = answers[spec.key]["shared_audio"]["r"]
    assert ncc > 0.5 and null > ncc - 0.2
    assert component < component_null + 0.08  # the component check's null catches it too
    assert totals([spec], answers)["false_positive_no_shared_audio"] == 1.0


def test_a_candidate_without_a_master_counts_as_no_shared_audio():
    # Given a scaling run where a non-catalogue excerpt draws a distractor (no master audio)
    spec = QuerySpec("n3", False, "clean", 10, 5.0, 1)
    answers = {spec.key: {**_answer(spec, "distractor-x-v7"), "score": 5.0, "shares": [["distractor-x-v7", 0.3, 40.0]]}}
    masters = {"n3": _noise(7, 30.0)}
    check = verify_negatives([spec], answers, masters.get, seed=3)
    assert check["checked"] == 0 and answers[spec.key]["shared_audio"] == {"distractor-x-v7": [0.0, 0.0, 0.0, 0.0]}
    assert totals([spec], answers)["false_positive_no_shared_audio"] == 1.0


def test_a_partial_answer_holds_our_recording_when_the_whole_excerpt_carries_it_as_a_component():
    # Given a non-catalogue excerpt that is a catalogue track 9 dB under other material
    ref = _noise(8, 60.0)
    other = _noise(9, 60.0)
    mix = (other + ref * 10 ** (-9 / 20)).astype(np.float32)
    spec = QuerySpec("n4", False, "clean", 10, 20.0, 1)
    answers = {spec.key: {**_answer(spec, "r"), "kind": "partial", "score": 30.0, "shares": [["r", 0.1, 20.0]]}}
    verify_negatives([spec], answers, {"n4": mix, "r": ref}.__getitem__, seed=4)
    ncc, null, component, component_null = answers[spec.key]["shared_audio"]["r"]
    # Then a window's NCC says little (under the copy's bar), the whole excerpt says it is there
    assert ncc < 0.5 and component > 0.3 and component > component_null + 0.2
    assert totals([spec], answers)["false_positive_no_shared_audio"] == 0.0
    assert totals([spec], answers)["false_positive_no_shared_audio_strict"] == 1.0
    # and the same answer called a copy would be false: a copy must correlate as one
    answers[spec.key]["kind"] = "copy"
    assert totals([spec], answers)["false_positive_no_shared_audio"] == 1.0


def test_a_derivative_measures_the_foreign_material_while_it_sounds_and_mixes_the_backing_under_it():
    from bench import derivative

    rate = 22050
    voice = np.concatenate([_noise(11, 2.0), np.zeros(2 * rate, np.float32)])  # speaks, then pauses
    # the pause does not count: -12 dB means 12 dB under the voice when it speaks
    assert derivative.active_rms(voice, rate) == pytest.approx(float(np.sqrt(np.mean(voice[: 2 * rate] ** 2))), rel=0.02)
    backing = _noise(10, 4.0)
    y = derivative.mix(backing, voice, -12.0, rate)
    pause = y[int(2.2 * rate):]  # only the backing sounds here
    speaking = y[: int(1.8 * rate)]
    level = 20 * np.log10(np.sqrt(np.mean(pause**2)) / np.sqrt(np.mean(speaking**2) - np.mean(pause**2)))
    assert level == pytest.approx(-12.0, abs=0.3)
    assert np.abs(y).max() == pytest.approx(10 ** (-1 / 20), rel=1e-6)


def test_an_interrupted_benchmark_removes_its_work_directory(monkeypatch, tmp_path):
    """The work directory holds the built indexes (hundreds of MB at scale): Ctrl-C or a
    SIGTERM mid-run must not leave it in /tmp."""
    import os
    import signal

    import pytest

    import bench.fingerprint as bf

    before = signal.getsignal(signal.SIGTERM)
    for stop in ("interrupt", "sigterm"):
        work = tmp_path / stop

        def run(argv, cleanup, work=work, stop=stop):
            work.mkdir()
            (work / "index.bin").write_bytes(b"x" * 1024)
            cleanup.append(work)
            if stop == "interrupt":
                raise KeyboardInterrupt
            os.kill(os.getpid(), signal.SIGTERM)

        monkeypatch.setattr(bf, "_bench", run)
        with pytest.raises((KeyboardInterrupt, SystemExit)):
            bf.main([])
        assert not work.exists()
        assert signal.getsignal(signal.SIGTERM) is before
