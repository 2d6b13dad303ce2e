"""Start and stop the e2e cluster layout N times on one ZooKeeper ensemble, and say how many
starts failed and why: for a start that fails now and then under load (run a CPU hog beside
it). `.venv/bin/python -m tests.e2e.repeat_cluster_starts 20`"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from deploy.cluster.launcher import start_cluster
from deploy.local_servers.process import ServerStartError
from deploy.local_servers.zookeeper import start_zookeeper
from tests.e2e.cluster_layout import ROLE_ENV, cluster_config, fresh_root


def main(starts: int) -> int:
    failures = 0
    work = tempfile.mkdtemp(prefix="hubbub-starts-")  # kept: a failed start's logs are in it
    print(f"logs under {work}/start-N/cluster/logs", flush=True)
    ensemble = start_zookeeper(Path(work) / "zookeeper", nodes=3)
    try:
        for n in range(starts):
            began = time.monotonic()
            try:
                cluster = start_cluster(
                    cluster_config(Path(work) / f"start-{n}"),
                    zookeeper_hosts=ensemble.hosts,
                    zookeeper_root=fresh_root(),
                    role_env=ROLE_ENV,
                )
            except ServerStartError as error:
                failures += 1
                print(f"start {n + 1}: FAILED after {time.monotonic() - began:.1f} s: {error}", flush=True)
                continue
            print(f"start {n + 1}: up in {time.monotonic() - began:.1f} s", flush=True)
            cluster.stop()
    finally:
        ensemble.stop()
    print(f"{starts - failures} of {starts} starts came up")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10))
