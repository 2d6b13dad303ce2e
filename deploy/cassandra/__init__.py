"""The Cassandra schema: versioned .cql migrations beside this file, applied by
`hubbub store migrate` (migrate.py)."""
