"""Audio fingerprint engine: landmarks on a semitone axis, calibrated decisions, sharded index.

Pure numpy (no scipy: it does not fit the Lambda package). See ``params`` for every tuning
constant, ``extract`` for peaks and hashes, ``index`` for the on-disk format, ``query`` for
the search over playback changes and ``result`` for calibration and the shard merge.
"""

from .extract import Fingerprint, extract
from .index import FORMAT_VERSION, Index, IndexFormatError, IndexWriter
from .params import DEFAULT_MAX_FALSE_MATCH_RATE, DEFAULT_PARAMS, AnalysisParams
from .result import Match, QueryResult, merge_results

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
