"""`hubbub bench <workload>`: dispatch to the module that owns each workload."""

from __future__ import annotations

import importlib
import sys

WORKLOADS = {
    "store": ("bench.store_bench", "the message store alone"),
    "chat": ("bench.chat_bench", "W1 1:1 chat, one rate"),
    "w1": ("bench.w1", "W1 1:1 chat, stepped rates, capacity"),
    "group": ("bench.group", "W2 group fan-out (100 of 100 online, 100 of 500)"),
    "connections": ("bench.connections", "W3 idle authenticated connections, RSS per connection"),
    "resume": ("bench.resume", "W4 resume storm"),
    "flood": ("bench.flood", "a bystander's p99 alone and while another user floods (default limits)"),
    "layouts": ("bench.layouts", "W1 steps on each process layout, CPU µs per message"),
    "baseline": ("bench.baseline", "bare websockets echo server, same generator"),
    "codec": ("bench.codec_bench", "CPU µs per frame of each JSON codec for the hot frames"),
    "metrics": ("bench.metrics_cost", "CPU µs per message of the Prometheus metrics, with and without"),
    "suite": ("bench.suite", "W1-W4 and the baseline into bench-results/<timestamp>/"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    workload, rest = (argv[0], argv[1:]) if argv else ("--help", [])
    if workload in WORKLOADS:
        module = importlib.import_module(WORKLOADS[workload][0])
        code: int = module.main(rest)
        return code
    lines = [f"  {name:<12} {about}" for name, (_, about) in WORKLOADS.items()]
    usage = "usage: hubbub bench <workload> [options]   (hubbub bench <workload> --help)\n" + "\n".join(lines)
    if workload in ("-h", "--help"):
        print(usage)
        return 0
    print(f"hubbub bench: unknown workload {workload!r}\n{usage}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
