"""`hubbub cluster`: every service of a cluster as its own process on this machine, with a
three-node ZooKeeper ensemble and a Redis server (docs/cluster.md)."""
