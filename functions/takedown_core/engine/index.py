"""The on-disk catalogue index: a flat directory, versioned, sharded, memory-mappable.

Files (flat, so an S3 prefix holds it verbatim)::

    manifest.json            format_version, analysis params, dtypes, shard list, catalogue
                             statistics for calibration, sha256 of every other file
    tracks.json              per track: id, duration, frames, entries, shard, metadata, and
                             what the catalogue does not claim alone: exclusions (given),
                             shared_segments and versions (the self-match at build time)
    shard-0000.hashes.npy    uint32 (little-endian), sorted ascending
    shard-0000.postings.npy  uint32, aligned with hashes: local track << time_bits | frame

Tracks are partitioned across shards (contiguous, balanced by entries), so a shard answers
alone for its tracks and :func:`merge_results` combines shards with the whole catalogue's
calibration. ``.npy`` loads without pickle (``allow_pickle=False``) and maps with
``mmap_mode="r"``. An index directory is written once; adding tracks writes a new one.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from pathlib import Path

import numpy as np

from .arrays import sorted_unique
from .extract import HASH_DTYPE, TIME_DTYPE, Fingerprint, Peaks, dense, extract, fingerprint_peaks
from .params import DEFAULT_MAX_FALSE_MATCH_RATE, DEFAULT_PARAMS, AnalysisParams
from .result import QueryResult
from .search import search_shard, segments
from .selfmatch import self_match
from .shard import ShardData, hash_offsets
from .triplets import KEY_BITS as TRIPLET_KEY_BITS
from .triplets import KEY_DTYPE as TRIPLET_KEY_DTYPE
from .triplets import ShardTriplets, TripletEntries
from .triplets import key_offsets as triplet_key_offsets
from .verdict import decide, pool

FORMAT_VERSION = 1
FORMAT_NAME = "takedown-landmark-index"
MANIFEST = "manifest.json"
TRACKS = "tracks.json"
POSTING_DTYPE = np.dtype("<u4")
MAX_ENTRIES_PER_SHARD = 48_000_000  # 384 MB of arrays: one shard fits a 1 GB Lambda


class IndexFormatError(Exception):
    """The directory is not an index this code can read."""


class IndexWriter:
    """Collects reference fingerprints and writes an index directory."""

    def __init__(self, params: AnalysisParams = DEFAULT_PARAMS) -> None:
        self.params = params
        self._tracks: list[dict] = []
        self._hashes: list[np.ndarray] = []
        self._times: list[np.ndarray] = []
        self._triplets: list[TripletEntries | None] = []
        self._ids: set[str] = set()

    def __len__(self) -> int:
        return len(self._tracks)

    def add(
        self,
        track_id: str,
        samples_or_fingerprint,
        *,
        duration_s: float | None = None,
        metadata: dict | None = None,
        exclusions: list | None = None,
    ) -> None:
        """Add one reference track (mono float32 samples at ``params.sample_rate``, or a
        reference :class:`Fingerprint` made with the same params). ``exclusions``: time
        ranges of the recording the label does not hold exclusive rights to (a licensed
        loop, a sample), ``{"start_s", "end_s", "note"?}`` or ``(start_s, end_s)`` each:
        a match resting only on them is never a case (:func:`verdict.judge`)."""
        if not track_id or not isinstance(track_id, str):
            raise ValueError("track_id must be a non-empty string")
        if track_id in self._ids:
            raise ValueError(f"duplicate track id {track_id!r}")
        if isinstance(samples_or_fingerprint, Fingerprint):
            fp = samples_or_fingerprint
        else:
            fp = extract(np.asarray(samples_or_fingerprint, dtype=np.float32), self.params, role="reference")
        max_frame = (1 << self.params.time_bits) - 1
        keep = fp.times <= max_frame
        hashes, times = fp.hashes[keep], fp.times[keep]
        frames = min(fp.frame_count, max_frame + 1)
        meta = json.loads(json.dumps(metadata or {}))  # JSON-clean copy
        excl = [_exclusion(e, track_id) for e in exclusions or []]
        self._ids.add(track_id)
        self._tracks.append(
            {
                "id": track_id,
                "duration_s": float(duration_s if duration_s is not None else fp.duration_s),
                "frames": int(frames),
                "entries": int(hashes.size),
                "metadata": meta,
                "exclusions": excl,
            }
        )
        self._hashes.append(hashes.astype(HASH_DTYPE, copy=False))
        self._times.append(times.astype(TIME_DTYPE, copy=False))
        tr = fp.triplets if self.params.wide_search else None
        if tr is not None:
            k = tr.times <= max_frame
            tr = TripletEntries(tr.keys[k], tr.times[k], tr.fref[k], tr.dtc[k])
        self._triplets.append(tr)

    def add_peaks(
        self,
        track_id: str,
        peaks: Peaks,
        *,
        duration_s: float,
        frame_count: int,
        metadata: dict | None = None,
        exclusions: list | None = None,
    ) -> None:
        """Add one reference track from its precomputed reference peaks (``find_peaks`` with
        ``params.ref_peaks_per_s``, sorted by frame): the same entries :meth:`add` makes from
        the samples, without decoding or analysing the audio again. ``frame_count``: the
        track's spectrogram frames (``extract._frames_count`` of its sample count), seconds
        and frames as :class:`Fingerprint` has them. Errors as :meth:`add`."""
        fp = fingerprint_peaks(peaks, self.params, role="reference", duration_s=float(duration_s), frame_count=int(frame_count))
        self.add(track_id, fp, duration_s=duration_s, metadata=metadata, exclusions=exclusions)

    def write(self, out_dir: str | Path, *, shard_count: int | None = None, match_itself: bool = True) -> dict:
        """Write the index to ``out_dir`` (new or empty); returns the manifest. With
        ``match_itself`` (the default) the catalogue is matched against itself first
        (:mod:`selfmatch`), and each track records the segments other tracks also hold."""
        p = self.params
        out = Path(out_dir)
        if out.exists() and any(out.iterdir()):
            raise FileExistsError(f"{out} is not empty: an index version is written once, to a new directory")
        out.mkdir(parents=True, exist_ok=True)
        n = len(self._tracks)
        entries = np.array([t["entries"] for t in self._tracks], dtype=np.int64)
        total = int(entries.sum())
        min_shards = max(1, math.ceil(n / (1 << p.track_bits)), math.ceil(total / MAX_ENTRIES_PER_SHARD))
        count = max(min_shards, shard_count or 1)
        count = min(count, max(1, n))
        bounds = _balanced_bounds(entries, count, 1 << p.track_bits)
        shared_count = 0
        shared_frames = [np.zeros(0, np.int64)] * n
        if match_itself:
            fs = p.frame_seconds
            found = self_match(self._hashes, self._times, [t["frames"] for t in self._tracks], p)
            shared_frames = [f["frames"] for f in found]
            for t, f in zip(self._tracks, found):
                t["versions"] = sorted(self._tracks[b]["id"] for b in f["versions"])
                t["shared_segments"] = sorted(
                    ({"start_s": round(a * fs, 3), "end_s": round(z * fs, 3), "with": [self._tracks[b]["id"]]}
                     for b, runs in f["shared"].items() for a, z in runs),
                    key=lambda seg: (seg["start_s"], seg["end_s"], seg["with"]),
                )
                shared_count += len(t["shared_segments"])

        shards_meta = []
        files: dict[str, str] = {}
        for s in range(len(bounds) - 1):
            a, b = bounds[s], bounds[s + 1]
            hs = [self._hashes[i] for i in range(a, b)]
            ts = [self._times[i] for i in range(a, b)]
            h = np.concatenate(hs) if hs else np.zeros(0, HASH_DTYPE)
            local = np.concatenate([np.full(x.size, i - a, dtype=np.uint32) for i, x in zip(range(a, b), hs)]) if hs else np.zeros(0, np.uint32)
            t = np.concatenate(ts) if ts else np.zeros(0, TIME_DTYPE)
            post = (local.astype(np.uint32) << np.uint32(p.time_bits)) | t.astype(np.uint32)
            order = np.lexsort((post, h))
            h, post = h[order].astype(HASH_DTYPE), post[order].astype(POSTING_DTYPE)
            hname, pname = f"shard-{s:04d}.hashes.npy", f"shard-{s:04d}.postings.npy"
            _save(out / hname, h)
            _save(out / pname, post)
            files[hname] = _sha256(out / hname)
            files[pname] = _sha256(out / pname)
            # the anchor frames of its tracks that other tracks hold (self-match): sorted
            # postings, local track << time_bits | frame
            sname = f"shard-{s:04d}.shared.npy"
            marks = [(np.uint32(i - a) << np.uint32(p.time_bits)) | shared_frames[i].astype(np.uint32) for i in range(a, b)]
            _save(out / sname, np.sort(np.concatenate(marks)).astype(POSTING_DTYPE) if marks else np.zeros(0, POSTING_DTYPE))
            files[sname] = _sha256(out / sname)
            frames = sum(self._tracks[i]["frames"] for i in range(a, b))
            shards_meta.append(
                {"number": s, "hashes": hname, "postings": pname, "shared": sname, "first_track": a, "track_count": b - a,
                 "entries": int(h.size), "frames": int(frames)}
            )
            if p.wide_search:
                # the wide search's triplet entries (triplets.py), sorted by (key, posting)
                trs = [(i - a, self._triplets[i]) for i in range(a, b) if self._triplets[i] is not None]
                tk = np.concatenate([t.keys for _, t in trs]) if trs else np.zeros(0, TRIPLET_KEY_DTYPE)
                tp = (np.concatenate([np.full(t.keys.size, i, np.uint32) for i, t in trs]) << np.uint32(p.time_bits)
                      | np.concatenate([t.times for _, t in trs]).astype(np.uint32)) if trs else np.zeros(0, np.uint32)
                tf = np.concatenate([t.fref for _, t in trs]) if trs else np.zeros(0, np.uint16)
                td = np.concatenate([t.dtc for _, t in trs]) if trs else np.zeros(0, np.uint8)
                order = np.lexsort((tp, tk))
                names = {}
                for part, arr, dt in (("keys", tk, TRIPLET_KEY_DTYPE), ("postings", tp, POSTING_DTYPE), ("fref", tf, np.dtype("<u2")),
                                      ("dtc", td, np.dtype("u1"))):
                    fname = f"shard-{s:04d}.triplet-{part}.npy"
                    _save(out / fname, arr[order].astype(dt))
                    files[fname] = _sha256(out / fname)
                    names[part] = fname
                shards_meta[-1]["triplets"] = {**names, "entries": int(tk.size)}
            for i in range(a, b):
                self._tracks[i]["shard"] = s

        tracks_doc = {"format_version": FORMAT_VERSION, "tracks": self._tracks}
        _write_json(out / TRACKS, tracks_doc)
        files[TRACKS] = _sha256(out / TRACKS)
        seconds = float(sum(t["duration_s"] for t in self._tracks))
        manifest = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "params": p.to_dict(),
            "dtypes": {"hashes": HASH_DTYPE.str, "postings": POSTING_DTYPE.str},
            "posting_layout": {"track_bits": p.track_bits, "time_bits": p.time_bits},
            "hash_layout": {"f_bits": 8, "df_bits": 7, "dt_bits": 6},
            "triplet_layout": {"key_bits": TRIPLET_KEY_BITS} if p.wide_search else None,
            "catalogue": {
                "track_count": n,
                "total_frames": int(sum(t["frames"] for t in self._tracks)),
                "total_entries": total,
                "total_seconds": seconds,
                "distinct_hashes": int(sorted_unique(np.concatenate(self._hashes)).size) if total else 0,
            },
            "shards": shards_meta,
            "self_match": {"done": bool(match_itself), "shared_segments": shared_count,
                           "max_false_match_rate": p.self_match_max_false_match_rate},
            "tracks_file": TRACKS,
            "files": files,
        }
        _write_json(out / MANIFEST, manifest)  # last: a manifest means a complete index
        return manifest


def _exclusion(e, track_id: str) -> dict:
    """One exclusion as tracks.json keeps it: ``{"start_s", "end_s", "note"}``."""
    if isinstance(e, dict):
        start, end, note = e.get("start_s"), e.get("end_s"), e.get("note", "")
    else:
        start, end = e[0], e[1]
        note = e[2] if len(e) > 2 else ""
    try:
        start, end = float(start), float(end)
    except (TypeError, ValueError):
        raise ValueError(f"{track_id}: an exclusion needs numeric start_s and end_s, not {e!r}") from None
    if not (0.0 <= start < end) or not math.isfinite(end):
        raise ValueError(f"{track_id}: exclusion {start}-{end} s is not a time range")
    return {"start_s": round(start, 3), "end_s": round(end, 3), "note": str(note or "")[:300]}


def _balanced_bounds(entries: np.ndarray, count: int, cap: int) -> list[int]:
    """Contiguous split of tracks into ``count`` shards with similar entry totals."""
    n = entries.size
    if n == 0:
        return [0, 0]
    cum = np.cumsum(entries)
    total = cum[-1] if cum[-1] > 0 else n
    bounds = [0]
    for s in range(1, count):
        target = total * s / count
        cut = int(np.searchsorted(cum, target, side="left")) + 1 if cum[-1] > 0 else round(n * s / count)
        cut = max(bounds[-1] + 1, min(cut, n - (count - s)))
        cut = min(cut, bounds[-1] + cap)
        bounds.append(cut)
    bounds.append(n)
    if bounds[-1] - bounds[-2] > cap:
        raise ValueError("too many tracks for the shard count")
    return bounds


def _save(path: Path, arr: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.save(fh, np.ascontiguousarray(arr), allow_pickle=False)
    os.replace(tmp, path)


def _write_json(path: Path, doc: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True))
    os.replace(tmp, path)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Index:
    """A loaded index (all shards, or the ``shards`` given). Immutable; no per-query state,
    so one instance serves every invocation of a warm Lambda."""

    def __init__(self, directory: Path, manifest: dict, tracks: list[dict], shards: list[ShardData]) -> None:
        self.directory = directory
        self.manifest = manifest
        self.params = AnalysisParams.from_dict(manifest["params"])
        self._tracks = {t["id"]: t for t in tracks}
        self._shards = shards
        cat = manifest["catalogue"]
        self.track_count = int(cat["track_count"])
        self._total_frames = int(cat["total_frames"])

    @classmethod
    def open(cls, directory: str | Path, *, mmap: bool = True, shards: list[int] | None = None, verify: bool = False) -> "Index":
        d = Path(directory)
        try:
            manifest = json.loads((d / MANIFEST).read_text())
        except FileNotFoundError as exc:
            raise IndexFormatError(f"{d} has no {MANIFEST}") from exc
        if manifest.get("format") != FORMAT_NAME:
            raise IndexFormatError(f"{d} is not a {FORMAT_NAME}")
        if manifest.get("format_version") != FORMAT_VERSION:
            raise IndexFormatError(f"index format version {manifest.get('format_version')} is not {FORMAT_VERSION}")
        if verify:
            for name, digest in manifest["files"].items():
                if _sha256(d / name) != digest:
                    raise IndexFormatError(f"{name} does not match its checksum")
        tracks = json.loads((d / manifest["tracks_file"]).read_text())["tracks"]
        wanted = set(range(len(manifest["shards"]))) if shards is None else set(shards)
        unknown = wanted - set(range(len(manifest["shards"])))
        if unknown:
            raise ValueError(f"no such shard(s): {sorted(unknown)}")
        loaded = []
        for sm in manifest["shards"]:
            if sm["number"] not in wanted:
                continue
            hashes = _load(d / sm["hashes"], manifest["dtypes"]["hashes"], mmap)
            postings = _load(d / sm["postings"], manifest["dtypes"]["postings"], mmap)
            if hashes.shape != postings.shape or hashes.size != sm["entries"]:
                raise IndexFormatError(f"shard {sm['number']} arrays do not match the manifest")
            tr = tracks[sm["first_track"] : sm["first_track"] + sm["track_count"]]
            hl = manifest.get("hash_layout") or {"f_bits": 8, "df_bits": 7, "dt_bits": 6}
            hash_bits = int(hl["f_bits"]) + int(hl["df_bits"]) + int(hl["dt_bits"])
            loaded.append(
                ShardData(
                    number=sm["number"],
                    hashes=np.asarray(hashes),
                    postings=np.asarray(postings),
                    offsets=hash_offsets(hashes, hash_bits),
                    track_ids=[t["id"] for t in tr],
                    track_frames=np.array([t["frames"] for t in tr], dtype=np.int64),
                    track_metadata=[t.get("metadata") or {} for t in tr],
                    track_segments=_track_segments(tr, AnalysisParams.from_dict(manifest["params"]))
                    if any("shared_segments" in t or t.get("exclusions") for t in tracks) else None,
                    shared=_load(d / sm["shared"], manifest["dtypes"]["postings"], mmap) if sm.get("shared") else None,
                    **_load_triplets(d, sm, mmap),
                )
            )
        return cls(d, manifest, tracks, loaded)

    @property
    def shard_numbers(self) -> list[int]:
        return [s.number for s in self._shards]

    def track_metadata(self, track_id: str) -> dict:
        return dict(self._tracks[track_id].get("metadata") or {})

    def track_ids(self) -> list[str]:
        return list(self._tracks)

    def fingerprint(self, samples: np.ndarray) -> Fingerprint:
        """The query fingerprint for ``samples`` (reusable across :meth:`query` calls)."""
        return extract(samples, self.params, role="query")

    def query(self, samples, *, max_false_match_rate: float | None = None, search: str = "both") -> QueryResult:
        """Match mono float32 samples at ``params.sample_rate`` (or a query Fingerprint).

        With a subset of shards open, the result carries evidence for
        :func:`merge_results`; its own decision already uses the whole catalogue's
        multiplicity, so a shard alone is never more lenient than the full index.

        When the first search finds no copy, a second one runs with the query's dense
        peaks (``params.derivative_peaks_per_s``): our recording under louder new material
        keeps too few of the 20 peaks per second. Its segments are marked ``"search": 2``
        and count in the multiplicity (:func:`verdict.decide`).

        ``search``: ``"both"`` (the above; a subset of shards always runs the second search,
        since another shard may hold the copy), ``"first"`` (the first search only, whatever
        it finds) or ``"second"`` (the second search only: its segments, decided alone). A
        fan-out asks every shard for ``"first"``, merges, and asks for ``"second"`` only when
        the merge found no copy, as a whole index decides (``matching.FanOutMatcher``).
        Raises ValueError for another ``search`` or a reference fingerprint.
        """
        if search not in ("both", "first", "second"):
            raise ValueError(f"search must be 'both', 'first' or 'second', not {search!r}")
        fp = samples if isinstance(samples, Fingerprint) else self.fingerprint(samples)
        if fp.pairs is None:
            raise ValueError("a query needs a query fingerprint (extract(..., role='query'))")
        threshold = DEFAULT_MAX_FALSE_MATCH_RATE if max_false_match_rate is None else max_false_match_rate
        if not self._shards:
            raise ValueError("no shards loaded")

        def decided(segments: list[dict]) -> QueryResult:
            return decide({"segments": segments}, query_duration_s=fp.duration_s, query_hashes=len(fp), max_false_match_rate=threshold)

        if search == "second":
            return decided(self._second_search(fp))
        segments = self._search(fp)
        result = decided(segments)
        if search == "first" or (result.best is not None and result.best.kind == "copy" and self._whole):
            return result  # a copy: nothing under other material to look for
        second = self._second_search(fp)
        return decided(segments + second) if second else result

    def _second_search(self, fp: Fingerprint) -> list[dict]:
        """Our recording under louder material: the search with the query's dense peaks,
        its segments marked ``"search": 2``; none when the index has no such search."""
        if fp.dense_peaks is None or self.params.derivative_peaks_per_s <= self.params.query_peaks_per_s:
            return []
        return [dict(ev, search=2) for ev in self._search(dense(fp, self.params), wide=False)]

    @property
    def _whole(self) -> bool:
        return len(self._shards) == len(self.manifest["shards"])

    def _search(self, fp: Fingerprint, *, wide: bool = True) -> list[dict]:
        """Pooled evidence of every loaded shard, per query segment (``wide``: with the wide
        search over speed, tempo and pitch, :func:`search.search_shard`)."""
        return [
            pool([
                search_shard(fp, s, self.params, catalogue_frames=self._total_frames, catalogue_tracks=self.track_count, segment=seg, wide=wide)
                for s in self._shards
            ])
            for seg in segments(fp.frame_count, self.params)
        ]


def shard_files(shard: dict) -> list[str]:
    """The files of one shard (an entry of the manifest's ``shards``): what a function that
    holds only that shard must fetch besides the manifest and ``tracks_file``."""
    names = [shard[k] for k in ("hashes", "postings", "shared") if shard.get(k)]
    triplets = shard.get("triplets") or {}
    return names + [triplets[k] for k in ("keys", "postings", "fref", "dtc") if triplets.get(k)]


def _track_segments(tracks: list[dict], p: AnalysisParams) -> list:
    """Per track, its shared segments and exclusions as inclusive reference frame ranges:
    (starts, ends, is_exclusion, other track ids) arrays, for the search."""
    fs = p.frame_seconds
    out = []
    for t in tracks:
        marks = [(s["start_s"], s["end_s"], False, list(s.get("with") or [])) for s in t.get("shared_segments") or []]
        marks += [(e["start_s"], e["end_s"], True, []) for e in t.get("exclusions") or []]
        out.append((
            np.array([int(math.floor(m[0] / fs)) for m in marks], dtype=np.int64),
            np.array([int(math.ceil(m[1] / fs)) for m in marks], dtype=np.int64),
            np.array([m[2] for m in marks], dtype=bool),
            [m[3] for m in marks],
        ))
    return out


def _load_triplets(d: Path, sm: dict, mmap: bool) -> dict:
    """A shard's triplet arrays and key offsets (ShardData fields), or none: an index built
    before the wide search answers with the +-6 % search alone (``params.wide_search`` is
    False in its manifest, see params._LEGACY); rebuild it with ``catalog build`` to search
    the whole range."""
    t = sm.get("triplets")
    if not t:
        return {}
    arrays = {part: _load(d / t[part], dt, mmap) for part, dt in
              (("keys", TRIPLET_KEY_DTYPE.str), ("postings", POSTING_DTYPE.str), ("fref", "<u2"), ("dtc", "|u1"))}
    if any(a.size != t["entries"] for a in arrays.values()):
        raise IndexFormatError(f"shard {sm['number']} triplet arrays do not match the manifest")
    tr = ShardTriplets(**{k: np.asarray(v) for k, v in arrays.items()})
    return {"triplets": tr, "triplet_offsets": triplet_key_offsets(tr.keys)}


def _load(path: Path, dtype: str, mmap: bool) -> np.ndarray:
    arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    if arr.dtype != np.dtype(dtype) or arr.ndim != 1:
        raise IndexFormatError(f"{path.name}: dtype {arr.dtype} / ndim {arr.ndim}, expected {dtype} / 1")
    return arr
