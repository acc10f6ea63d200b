"""Fixtures for the workflow tier: the real stack on moto, real media, real state machine."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from takedown_local.media import resample_linear, synth_track, write_audio

SR = 22050


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> dict[str, Path]:
    """A 3-track catalogue (with metadata) and uploads derived from it, made once."""
    root = tmp_path_factory.mktemp("media")
    cat = root / "catalog"
    cat.mkdir()
    tracks = {}
    for i in range(3):
        tid = f"ref-{i}"
        tracks[tid] = synth_track(200 + i, 60, sample_rate=SR)
        write_audio(cat / f"{tid}.flac", tracks[tid], SR)
        (cat / f"{tid}.json").write_text(
            f'{{"title": "Reference {i}", "artist": "Artist {i}", "isrc": "GB-EXR-26-0000{i}", '
            f'"owner": "Example Records Ltd", "territories": ["WORLD"]}}'
        )
    files = {
        "excerpt.mp3": tracks["ref-0"][10 * SR: 30 * SR],
        "sped.m4a": resample_linear(tracks["ref-1"][5 * SR: 25 * SR], 1.04),
        "unrelated.ogg": synth_track(999, 20, sample_rate=SR),
    }
    out = {"catalog": cat, "root": root}
    for name, samples in files.items():
        out[name] = write_audio(root / name, samples, SR)
    return out


@pytest.fixture(scope="session")
def index_dir(media, tmp_path_factory) -> Path:
    """The catalogue's index as the local runs build it: sharded for the dev environment's
    SHARDS_PER_FUNCTION, so the fingerprint function searches it by fan-out through the shard
    function, the path the deployed stack takes for a large catalogue."""
    from takedown_infra.config import load
    from takedown_local.driver import build_index

    out = tmp_path_factory.mktemp("index") / "v1"
    build_index(media["catalog"], out, shards_per_function=int(load("dev").match.get("shards_per_function", 0)))
    return out


def uploads_dir(tmp_path: Path, media: dict[str, Path], names: list[str], sidecars: dict[str, str] | None = None) -> Path:
    up = tmp_path / "uploads"
    up.mkdir(parents=True, exist_ok=True)
    for n in names:
        shutil.copy(media[n], up / n)
    for n, text in (sidecars or {}).items():
        (up / n).write_text(text)
    return up


def wait_until(predicate, timeout: float, what: str, interval: float = 0.1):
    """Poll ``predicate`` until it returns something truthy, and return that; fail the test
    with ``what`` after ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = predicate()
        if got:
            return got
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
