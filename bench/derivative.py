"""Derivatives for the benchmark: one recording under new, louder material.

The common "AI cover" is a recording (or its instrumental) with a new generated vocal on
top; a voice-over, a lyric video with commentary or a mash-up look the same to a
fingerprint. The benchmark builds its own from the development corpus:

- ``melody``: a lead line taken from another track (one the catalogue does not hold): its
  predominant pitch, frame by frame, sung back in tune by a voice-like synthesiser
  (harmonics under three vowel formants, vibrato, breath). Not that track's audio: only its
  tune, as a generated vocal would carry a song's tune and none of its recording.
- ``speech``: synthetic speech (``espeak-ng``, Debian), sentences and voices drawn with the
  seed, as in a voice-over or commentary.

The backing (the excerpt under test) is mixed ``level_db`` under the foreign material: RMS
of the backing against the RMS of the foreign material *while it sounds* (pauses of a
voice do not count), so -12 dB means 12 dB under the voice whenever it speaks.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

FOREIGN_KINDS = ("melody", "speech")
LEVELS_DB = (0, -6, -12)

# Public-domain-style sentences of our own for the voice-over.
_SENTENCES = (
    "Welcome back to the channel, today we are looking at something a little different.",
    "This one came out of nowhere and honestly it is better than the original.",
    "Before we start, remember to like and subscribe, it really helps the channel grow.",
    "Listen closely to the second part, that is where the magic happens.",
    "I made this over the weekend with a new tool and a lot of coffee.",
    "The lyrics on screen were written by my friend, let me know what you think.",
    "Here is the part everyone has been asking about in the comments.",
    "We tried three different voices before we settled on this one.",
    "If you are new here, we cover remixes, covers and everything in between.",
    "Turn it up, this is the moment the whole track has been building towards.",
    "Some people say it sounds like a real band, but it is all made at home.",
    "Thanks for watching, and see you in the next one.",
)
_VOICES = ("en", "en-us", "en-gb-scotland", "en-029", "en-gb-x-rp")
_VARIANTS = ("m1", "m3", "m7", "f1", "f2", "f4")


def have_espeak() -> bool:
    return shutil.which("espeak-ng") is not None


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        rate = w.getframerate()
        raw = w.readframes(w.getnframes())
        ch = w.getnchannels()
    x = np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0
    if ch > 1:
        x = x.reshape(-1, ch).mean(axis=1)
    return x, rate


def _resample(x: np.ndarray, src: int, dst: int) -> np.ndarray:
    if src == dst:
        return x
    n = int(round(x.size * dst / src))
    return np.interp(np.arange(n) * (src / dst), np.arange(x.size), x)


def speech(seconds: float, rate: int, seed: int) -> np.ndarray:
    """``seconds`` of synthetic speech: sentences in a drawn voice, with short pauses."""
    rng = np.random.default_rng(seed)
    voice = f"{_VOICES[int(rng.integers(len(_VOICES)))]}+{_VARIANTS[int(rng.integers(len(_VARIANTS)))]}"
    words_per_min = int(rng.integers(150, 190))
    pitch = int(rng.integers(35, 65))
    out: list[np.ndarray] = []
    total = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i in rng.permutation(len(_SENTENCES)):
            path = Path(tmp) / f"s{i}.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-s", str(words_per_min), "-p", str(pitch), "-w", str(path), _SENTENCES[i]],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            x, r = _read_wav(path)
            x = _resample(x, r, rate)
            out.append(x)
            out.append(np.zeros(int(rate * rng.uniform(0.2, 0.6))))
            total += x.size + out[-1].size
            if total >= seconds * rate:
                break
    y = np.concatenate(out)
    need = int(seconds * rate)
    if y.size < need:
        y = np.concatenate([y, np.zeros(need - y.size)])
    return y[:need]


def predominant_pitch(x: np.ndarray, rate: int, hop_s: float = 0.0116) -> tuple[np.ndarray, np.ndarray]:
    """Per frame (``hop_s``): the strongest harmonic-sum pitch between 185 and 880 Hz (a
    singer's range) and its salience (log units above the frame's median). A plain
    harmonic sum over a 93 ms spectrum: enough to take a tune out of a mix."""
    n_fft = 1 << int(round(math.log2(0.093 * rate)))
    hop = max(1, int(round(hop_s * rate)))
    if x.size < n_fft:
        x = np.concatenate([x, np.zeros(n_fft - x.size)])
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop]
    spec = np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=1))
    logs = np.log10(spec + 1e-9)
    logs -= np.median(logs, axis=0)  # per bin: what stands out of the mix, not the steady bass
    freqs = np.fft.rfftfreq(n_fft, 1.0 / rate)
    cands = 185.0 * 2 ** (np.arange(0, 81) / 36.0)  # 185-880 Hz in 1/3 semitones
    score = np.zeros((frames.shape[0], cands.size))
    for h in range(1, 4):
        idx = np.clip(np.rint(cands * h / (rate / n_fft)).astype(int), 0, freqs.size - 1)
        score += logs[:, idx] * (0.85 ** (h - 1))
    best = np.argmax(score, axis=1)
    f0 = cands[best]
    sal = score[np.arange(best.size), best] - np.median(score, axis=1)
    return f0, sal


def lead_line(foreign: np.ndarray, rate: int, seed: int) -> np.ndarray:
    """A sung lead on the tune of ``foreign`` (same length): its predominant pitch, held as
    notes in tune, voiced by harmonics under vowel formants, with vibrato and breath."""
    rng = np.random.default_rng(seed)
    hop_s = 0.0116
    f0, sal = predominant_pitch(foreign, rate, hop_s)
    # notes: the pitch's median over slots of ~140 ms (a sung note is no shorter), rounded
    # to semitones; silence where the tune is weak (the singer breathes)
    slot = 12
    n_slots = max(1, f0.size // slot)
    midi = np.repeat([np.rint(12 * np.log2(np.median(f0[i * slot:(i + 1) * slot]) / 440.0)) for i in range(n_slots)], slot)
    midi = np.concatenate([midi, np.full(f0.size - midi.size, midi[-1])])
    # a note held across slots whose pitch moved by a semitone only (vibrato of the source)
    for i in range(slot, midi.size, slot):
        if abs(midi[i] - midi[i - 1]) == 1:
            midi[i:i + slot] = midi[i - 1]
    voiced = np.repeat([np.median(sal[i * slot:(i + 1) * slot]) for i in range(n_slots)], slot)
    voiced = np.concatenate([voiced, np.full(f0.size - voiced.size, voiced[-1])]) > np.percentile(sal, 25)
    n = foreign.size
    t_frames = np.arange(f0.size) * hop_s
    t = np.arange(n) / rate
    note = np.interp(t, t_frames, midi)
    gate = np.interp(t, t_frames, voiced.astype(float))
    # smooth the gate (attack/release ~30 ms) so notes do not click
    win = int(0.03 * rate)
    gate = np.convolve(gate, np.ones(win) / win, mode="same")
    vib = 0.25 * np.sin(2 * np.pi * rng.uniform(4.8, 6.2) * t + rng.uniform(0, 6.28))
    hz = 440.0 * 2 ** ((note + vib) / 12.0)
    phase = 2 * np.pi * np.cumsum(hz) / rate
    formants = [(rng.uniform(500, 800), 90.0), (rng.uniform(1000, 1500), 110.0), (rng.uniform(2300, 2900), 160.0)]
    y = np.zeros(n)
    for h in range(1, 16):
        fh = hz * h
        amp = np.zeros(n)
        for fc, bw in formants:
            amp += 1.0 / (1.0 + ((fh - fc) / bw) ** 2)
        amp = (amp + 0.05) / h**0.5
        amp[fh > rate / 2 - 200] = 0.0
        y += amp * np.sin(h * phase)
    y += 0.02 * rng.standard_normal(n) * (np.abs(y).max() or 1.0)  # breath
    return y * gate


def active_rms(x: np.ndarray, rate: int) -> float:
    """RMS over the 50 ms blocks within 30 dB of the loudest (pauses do not count)."""
    b = max(1, int(0.05 * rate))
    m = x[: x.size // b * b].reshape(-1, b)
    e = np.sqrt(np.mean(m**2, axis=1) + 1e-20)
    act = e >= e.max() * 10 ** (-30 / 20)
    return float(np.sqrt(np.mean(m[act] ** 2))) if act.any() else 0.0


def mix(backing: np.ndarray, foreign: np.ndarray, level_db: float, rate: int) -> np.ndarray:
    """``backing`` ``level_db`` under ``foreign`` (active RMS), peak-normalised to -1 dBFS."""
    n = min(backing.size, foreign.size)
    b, f = backing[:n].astype(np.float64), foreign[:n].astype(np.float64)
    rb, rf = math.sqrt(np.mean(b**2)) or 1e-9, active_rms(f, rate) or 1e-9
    y = f / rf + b / rb * 10 ** (level_db / 20.0)
    return y / max(1e-9, np.abs(y).max()) * 10 ** (-1 / 20)
