"""Real servers started on this machine: the test fixtures and `hubbub cluster up` share them.

One module per server (redis, zookeeper, cassandra), each over `process.py`: start in its own
session on free loopback ports, wait until it answers, stop by PID; fail loudly with the tail
of the server's log when it does not come up."""
