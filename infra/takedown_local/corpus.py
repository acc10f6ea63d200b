"""Real open music for the demo: Debian's warzone2100-music package, fetched once, cached.

Nobody on this project made these recordings (see ../shared/corpus/README.md); the audio is
never committed. If the package cannot be fetched (no apt, no network), the demo says so and
falls back to synthesized music, so it still shows the whole workflow.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

PACKAGE = "warzone2100-music"
CACHE = Path(os.environ.get("TAKEDOWN_CACHE", Path.home() / ".cache" / "takedown")) / "corpus"
DEMO_SEED = 7
DEMO_VERSION = ("demo v4: with a derivative, a deepfake, a sped-up and a slowed edit on API and manual channels; "
                "a sidecar with a short link only\n")  # a cached demo folder of another version is rebuilt


class CorpusUnavailable(RuntimeError):
    pass


def fetch_music(cache: Path = CACHE) -> list[Path]:
    """The package's tracks, downloading and unpacking it on first use."""
    target = cache / PACKAGE
    tracks = sorted(p for p in target.rglob("*") if p.is_file() and p.suffix.lower() in (".opus", ".ogg"))
    if tracks:
        return tracks
    if not shutil.which("apt-get") or not shutil.which("dpkg-deb"):
        raise CorpusUnavailable("apt-get / dpkg-deb are not available to fetch open music")
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        def download() -> subprocess.CompletedProcess:
            return subprocess.run(["apt-get", "download", PACKAGE], cwd=tmp, capture_output=True, text=True)

        r = download()
        if r.returncode != 0 and os.geteuid() == 0:
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True, text=True)
            r = download()
        debs = list(Path(tmp).glob("*.deb"))
        if r.returncode != 0 or not debs:
            raise CorpusUnavailable(f"apt-get download {PACKAGE} failed: {r.stderr.strip()[-300:]}")
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(target)], check=True)
    tracks = sorted(p for p in target.rglob("*") if p.is_file() and p.suffix.lower() in (".opus", ".ogg"))
    if not tracks:
        raise CorpusUnavailable(f"{PACKAGE} unpacked but holds no tracks")
    return tracks


def _load(path: Path, rate: int, seconds: float | None = None):
    from takedown_core.audio import decode_audio

    return decode_audio(path, sample_rate=rate, max_seconds=seconds)


def _mix(ours, theirs, ours_db: float):
    """``ours`` ``ours_db`` dB under ``theirs`` (RMS), summed and kept under full scale."""
    n = min(len(ours), len(theirs))
    ours, theirs = ours[:n].astype(np.float64), theirs[:n].astype(np.float64)
    gain = 10 ** (ours_db / 20) * np.sqrt(np.mean(theirs ** 2) / max(np.mean(ours ** 2), 1e-12))
    mixed = theirs + gain * ours
    return (mixed * (0.9 / max(np.max(np.abs(mixed)), 1e-9))).astype(np.float32)


DEMO_BAD_SIDECAR = '{"source_url": "not a url", "platform": 42'  # cut short: not JSON at all


def demo_sidecars(artist: str) -> dict[str, dict[str, Any]]:
    """The demo's sidecars by upload path (an upload not named here has none); ``artist`` is
    the catalogue's artist, whom the deepfake's sidecar names."""
    return {
        "monitor-a/reupload-full-song.mp3": {
            "source_url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ", "platform": "youtube",
            "uploader": "free music 24/7", "title": "<b>FULL SONG</b> (official audio) free download",
            "partner_ref": "MON-A-0001"},
        "monitor-a/sped-up-version.m4a": {
            "source_url": "https://www.tiktok.com/@nightcore.daily/video/7300000000000000000", "platform": "tiktok",
            "uploader": "nightcore.daily", "title": "sped up 🔥", "partner_ref": "MON-A-0002"},
        "platform-b/lyric-video.mp4": {
            "source_url": "https://soundcloud.com/someone/track-rip", "platform": "soundcloud",
            "uploader": "someone", "title": "lyric video (not official)"},
        # a short link and nothing else: the platform is the one whose hosts serve it, and the case
        # and the notice name the video's canonical address (a partner's location_template would
        # make monitor-a's own item page, which YouTube could not act on: the review page says so)
        "monitor-a/noisy-phone-recording.ogg": {"source_url": "https://youtu.be/ph0neRec0rd?si=shared"},
        "monitor-a/original-song-1.opus": {
            "source_url": "https://www.youtube.com/watch?v=original0001", "platform": "youtube",
            "uploader": "indie artist", "title": "my own song"},
        "monitor-a/sped-up-edit.mp3": {
            "source_url": "https://www.dailymotion.com/video/x9spedup", "platform": "dailymotion",
            "uploader": "nightcore.daily", "title": "(sped up) 1.25x"},
        "monitor-a/slowed-reverb.m4a": {
            "source_url": "https://vimeo.com/900000001", "platform": "vimeo",
            "uploader": "slowed vibes", "title": "slowed + reverb"},
        "monitor-a/cover-over-our-track.mp3": {
            "source_url": "https://www.youtube.com/watch?v=covermix0001", "platform": "youtube",
            "uploader": "bedroom covers", "title": "my cover (karaoke version)"},
        "monitor-a/ai-voice-unreleased.mp3": {
            "source_url": "https://www.youtube.com/watch?v=deepfake0001", "platform": "youtube",
            "uploader": "ai vocals lab", "title": f"{artist} - Unreleased (AI Cover)",
            "description": "Voice model trained on the album, made with RVC. Not the real band.",
            "tags": ["AI cover", "RVC", artist]},
    }


def make_demo(workdir: Path, *, say=print) -> tuple[Path, Path]:
    """Write a catalogue folder and an uploads folder under workdir; returns both."""
    from .media import add_white_noise, resample_linear, synth_track, write_audio

    catalog, uploads = workdir / "catalog", workdir / "uploads"
    if (workdir / "READY").exists() and (workdir / "READY").read_text() == DEMO_VERSION:
        return catalog, uploads
    shutil.rmtree(workdir, ignore_errors=True)
    catalog.mkdir(parents=True)
    rate = 22050
    try:
        tracks = fetch_music()
        rng = np.random.default_rng(DEMO_SEED)
        order = rng.permutation(len(tracks))
        chosen = [tracks[i] for i in order[:8]]
        in_cat, outside = chosen[:5], chosen[5:8]
        source = f"Debian package {PACKAGE} (real music the project did not make)"
        cat_audio = {}
        for i, p in enumerate(in_cat):
            tid = f"wz-{p.stem}"
            shutil.copy(p, catalog / f"{tid}{p.suffix}")
            (catalog / f"{tid}.json").write_text(json.dumps({
                "title": p.stem.replace("_", " ").title(), "artist": "Warzone 2100 Project",
                "isrc": f"GB-EXR-26-{i + 1:05d}", "owner": "Example Records Ltd", "territories": ["WORLD"]}))
            cat_audio[tid] = _load(p, rate, 240)
        other_audio = [_load(p, rate, 120) for p in outside]
    except CorpusUnavailable as e:
        say(f"  note: {e}; using synthesized music instead")
        source = "synthesized music (open music could not be fetched)"
        cat_audio = {}
        for i in range(5):
            tid = f"synth-{i + 1}"
            cat_audio[tid] = synth_track(100 + i, 150, sample_rate=rate)
            write_audio(catalog / f"{tid}.flac", cat_audio[tid], rate)
            (catalog / f"{tid}.json").write_text(json.dumps({
                "title": f"Synth Study {i + 1}", "artist": "Demo Artist", "isrc": f"GB-EXR-26-{i + 1:05d}",
                "owner": "Example Records Ltd", "territories": ["WORLD"]}))
        other_audio = [synth_track(900 + i, 90, sample_rate=rate) for i in range(3)]

    ids = list(cat_audio)
    artist = json.loads((catalog / f"{ids[0]}.json").read_text())["artist"]
    a, b, c = (cat_audio[ids[0]], cat_audio[ids[1]], cat_audio[ids[2]])

    def cut(x, start_s, seconds):
        s = int(start_s * rate)
        return x[s: s + int(seconds * rate)]

    sidecars = demo_sidecars(artist)
    plan = [
        ("monitor-a/reupload-full-song.mp3", cut(a, 20, 60)),
        ("monitor-a/sped-up-version.m4a", resample_linear(cut(b, 30, 40), 1.04)),
        ("platform-b/lyric-video.mp4", cut(c, 45, 30)),
        ("monitor-a/noisy-phone-recording.ogg", add_white_noise(cut(a, 100, 25), 10.0)),
        ("monitor-a/original-song-1.opus", cut(other_audio[0], 10, 30)),
        ("monitor-a/original-song-2.mp3", cut(other_audio[1], 10, 30)),
        # the range uploaders publish at: a "sped up" edit (1.25x, pitch up with it) on a platform that
        # takes notices by API, and a "slowed" one (0.8x) on a web-form-only platform (the manual queue)
        ("monitor-a/sped-up-edit.mp3", resample_linear(cut(a, 50, 30), 1.25)),
        ("monitor-a/slowed-reverb.m4a", resample_linear(cut(b, 60, 30), 0.8)),
        # a derivative: our recording 6 dB under someone else's lead (a cover over our backing)
        ("monitor-a/cover-over-our-track.mp3", _mix(cut(c, 60, 30), cut(other_audio[2], 40, 30), -6.0)),
        # a deepfake: none of our recordings, presented as our artist's voice made by AI
        ("monitor-a/ai-voice-unreleased.mp3", cut(other_audio[2], 5, 30)),
    ]
    for rel, samples in plan:
        sidecar = sidecars.get(rel)
        path = uploads / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        write_audio(path, samples, rate)
        if sidecar:
            path.with_suffix(".json").write_text(json.dumps(sidecar, ensure_ascii=False))
    bad = uploads / "monitor-a"
    (bad / "truncated-download.mp3").write_bytes((uploads / plan[0][0]).read_bytes()[:700] + os.urandom(2000))
    (bad / "not-audio.mp3").write_text("<html>This is an error page, not a song.</html>\n")
    (bad / "empty-upload.m4a").write_bytes(b"")
    write_audio(bad / "bad-sidecar.flac", cut(b, 5, 12), rate)
    (bad / "bad-sidecar.json").write_text(DEMO_BAD_SIDECAR)
    (workdir / "SOURCE.txt").write_text(source + "\n")
    (workdir / "READY").write_text(DEMO_VERSION)
    return catalog, uploads
