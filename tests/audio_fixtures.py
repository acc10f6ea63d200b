"""Synthetic, deterministic music-like audio and real media files for tests.

The implementation lives in takedown_local.media (the demo uses it too); tests import it
from here under the names they always used.
"""

from takedown_local.media import (  # noqa: F401
    FORMATS,
    add_white_noise,
    resample_linear,
    synth_track,
    write_audio,
)
