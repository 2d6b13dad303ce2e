"""`hubbub bench <workload>`: dispatch to the module that owns each workload."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    workload, rest = (argv[0], argv[1:]) if argv else ("--help", [])
    if workload == "store":
        from bench.store_bench import main as store_main

        return store_main(rest)
    if workload == "chat":
        from bench.chat_bench import main as chat_main

        return chat_main(rest)
    print("usage: hubbub bench {store,chat} [options]   (hubbub bench <workload> --help)")
    return 0 if workload in ("-h", "--help") else 2
