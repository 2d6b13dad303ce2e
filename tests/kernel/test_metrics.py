"""The plain-int counters and histograms scrape exactly as prometheus_client's own would."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from kernel.metrics import LATENCY_BUCKETS_S, IntCounter, IntHistogram


def scraped(registry: CollectorRegistry) -> set[str]:
    """The exposition's sample lines, without the `_created` timestamps only the library keeps."""
    lines = generate_latest(registry).decode().splitlines()
    return {line for line in lines if line and "_created" not in line}


def test_a_counter_scrapes_as_a_prometheus_counter() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    counter = IntCounter("hubbub_test_frames", "Frames, by kind", "kind", registry=ours)
    reference = Counter("hubbub_test_frames", "Frames, by kind", ["kind"], registry=theirs)
    for kind, amount in [("send", 1), ("sent", 3), ("send", 1), ("message", 500)]:
        counter(kind).inc(amount)
        reference.labels(kind).inc(amount)
    assert scraped(ours) == scraped(theirs)
    assert ours.get_sample_value("hubbub_test_frames_total", {"kind": "send"}) == 2


def test_a_histogram_scrapes_as_a_prometheus_histogram() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    histogram = IntHistogram("hubbub_test_seconds", "Latency", LATENCY_BUCKETS_S, registry=ours)
    reference = Histogram("hubbub_test_seconds", "Latency", buckets=LATENCY_BUCKETS_S, registry=theirs)
    # On a bound (counted in it: `le`), between bounds, below the first and above the last.
    for value in [0.0, 0.0005, 0.0007, 0.001, 0.3, 5.0, 7.5, 120.0]:
        histogram.observe(value)
        reference.observe(value)
    assert scraped(ours) == scraped(theirs)
    assert ours.get_sample_value("hubbub_test_seconds_bucket", {"le": "0.001"}) == 4
    assert ours.get_sample_value("hubbub_test_seconds_count") == 8
