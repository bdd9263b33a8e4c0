"""``nova bench``: the harness behind Nova's performance claims (docs/performance.md).

=============  ====================================================================
module         contents
=============  ====================================================================
``graph``      the synthetic graph: numpy generation, COPY loading
``stats``      arrival schedule, HdrHistogram latencies, knee detection (pure)
``loadgen``    open-loop HTTP/1.1 generator on asyncio streams
``scenarios``  the five operations, the mix, the token pool
``probes``     server CPU, PostgreSQL connections, ``/metrics`` counters
``target``     a running Nova, or ``nova up`` as a subprocess
``runner``     one rate sweep against one server
``report``     JSON, Markdown and PNG output
``fanout``     publish-to-visible timing
``degraded``   content slowed behind a fault proxy: the other operations' p99
``recs``       recommended feed, warm then cold: fill, list eviction
``cli``        the ``nova bench`` commands
=============  ====================================================================
"""

__all__: list[str] = []
