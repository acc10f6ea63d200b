"""Process settings of the functions that search the catalogue (no CDK import: the benchmark
reads them too, to measure what is deployed).

``SEARCH_GLIBC_TUNABLES`` keeps glibc's malloc from returning big blocks to the kernel. A
search against a full shard builds temporaries of tens to hundreds of MB per query (24 M
postings for the second, denser search: arrays of 100-200 MB each). glibc serves every block
over its mmap threshold (at most 32 MB) with a fresh ``mmap`` and unmaps it on ``free``, so
each query page-faults and zero-fills all of them again. With ``mmap_max=0`` every block
comes from the heap, and a ``trim_threshold`` above any function's memory keeps the freed
heap for the next query. Measured with ``python -m bench.shard_query`` on one full shard
(4,000 tracks, 47 M entries; 38 queries of 10 s, two runs each way on a shared 2-core
machine): a query matching nothing 1,481-1,980 -> 1,055-1,145 ms of CPU (median), a matching
one 810-815 -> 670-714 ms; peak RSS 1.73-1.77 -> 1.75-1.79 GB. RSS no longer falls after a
query, which costs nothing in Lambda (it bills the configured memory).

Tunable names: glibc manual, "Memory Allocation Tunables" (glibc.malloc.mmap_max,
glibc.malloc.trim_threshold; glibc 2.26 and later; Lambda's Python runtimes run on Amazon
Linux 2023, glibc 2.34).
"""

from __future__ import annotations

SEARCH_GLIBC_TUNABLES = "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184"
