"""Audio fingerprint engine: landmarks on a semitone axis, calibrated decisions, sharded index.

Pure numpy (no scipy: it does not fit the Lambda package). Modules, each importing only
those listed before it:

- ``params``: every tuning constant (``AnalysisParams``) and the decision threshold.
- ``extract``: spectral peaks, landmark pairs and their hashes (``Fingerprint``).
- ``result``: what a query answers (``Match``, ``QueryResult``) and their JSON forms.
- ``shard``: one shard's arrays in memory and the keys a query hash is looked up under.
- ``verdict``: the decision: pooling shards' evidence, calibration (why a score means the
  same at any catalogue size), the content check, how a match uses our recording (a copy
  or a partial match, ``judge``), ``decide`` and ``merge_results``.
- ``search``: one shard's search over playback changes (pitch, tempo, speed), which
  gathers the evidence the verdict decides on.
- ``selfmatch``: the catalogue matched against itself at build time: the segments one
  reference shares with another, which no partial match may rest on alone.
- ``index``: the on-disk format (``IndexWriter``, ``Index``); ``Index.query`` runs the
  search on every loaded shard and the verdict on the pooled evidence (and, when that
  finds no copy, a second search with the query's denser peaks).
- ``wire``: a query fingerprint as JSON, for fanning one extraction out to shard matchers.
"""

from .extract import Fingerprint, extract
from .index import FORMAT_VERSION, Index, IndexFormatError, IndexWriter
from .params import DEFAULT_MAX_FALSE_MATCH_RATE, DEFAULT_PARAMS, AnalysisParams
from .result import Match, QueryResult
from .verdict import merge_results

__all__ = [
    "AnalysisParams",
    "DEFAULT_MAX_FALSE_MATCH_RATE",
    "DEFAULT_PARAMS",
    "FORMAT_VERSION",
    "Fingerprint",
    "Index",
    "IndexFormatError",
    "IndexWriter",
    "Match",
    "QueryResult",
    "extract",
    "merge_results",
]
