"""Every Redis key and channel name hubbub uses, in one place, with its hash tag.

Redis Cluster places a key by the part inside its first `{...}` (the hash tag). Keys that one
Lua script or transaction touches together share a tag, so they live in one slot; keys that are
only ever read in pipelines may spread over the cluster. Every name starts with a namespace
(`hubbub` by default; tests use a fresh one each) so deployments and test runs never collide.

| key / channel                          | type   | tag          | holds                                  |
|----------------------------------------|--------|--------------|----------------------------------------|
| NS:presence:user:{USER}                | hash   | user id      | online, last_seen, deadline, v         |
| NS:presence:user:{USER}:sessions       | set    | user id      | the user's live [edge, device, session]|
| NS:presence:edge:{EDGE}                | hash   | edge id      | deadline (lease), v                    |
| NS:presence:edge:{EDGE}:sessions       | set    | edge id      | the edge's open sessions (JSON keys)   |
| NS:presence:{NS:leases}                | zset   | namespace    | edge -> lease deadline (index)         |
| NS:presence:{NS:pending}               | zset   | namespace    | user -> pending offline deadline       |
| NS:presence:{NS:changes}               | shard channel | namespace | batches of debounced changes       |
| NS:directory:user:{USER}               | hash   | user id      | [edge, session] -> [device, generation]|
| NS:directory:edge:{EDGE}               | hash   | edge id      | deadline (lease), gen(eration)         |
| NS:directory:edge:{EDGE}:sessions      | hash   | edge id      | session -> [user, device]              |
| NS:directory:{NS:leases}               | zset   | namespace    | edge -> lease deadline (index)         |
| NS:directory:{NS:edges}                | set    | namespace    | every edge that registered a session   |
| NS:events:{NS:TOPIC}                   | shard channel | namespace + topic | cluster events of a topic    |

The user and edge hashes carry a version `v` that every write compares and bumps (one small
Lua script per key, see the backends), so writers on many processes never lose an update.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_NAMESPACE = "hubbub"


@dataclass(frozen=True, slots=True)
class PresenceKeys:
    namespace: str = DEFAULT_NAMESPACE

    def user(self, user_id: str) -> str:
        return f"{self.namespace}:presence:user:{{{user_id}}}"

    def user_sessions(self, user_id: str) -> str:
        return f"{self.namespace}:presence:user:{{{user_id}}}:sessions"

    def edge(self, edge_id: str) -> str:
        return f"{self.namespace}:presence:edge:{{{edge_id}}}"

    def edge_sessions(self, edge_id: str) -> str:
        return f"{self.namespace}:presence:edge:{{{edge_id}}}:sessions"

    @property
    def leases(self) -> str:
        return f"{self.namespace}:presence:{{{self.namespace}:leases}}"

    @property
    def pending(self) -> str:
        return f"{self.namespace}:presence:{{{self.namespace}:pending}}"

    @property
    def changes(self) -> str:
        return f"{self.namespace}:presence:{{{self.namespace}:changes}}"


@dataclass(frozen=True, slots=True)
class DirectoryKeys:
    namespace: str = DEFAULT_NAMESPACE

    def user(self, user_id: str) -> str:
        return f"{self.namespace}:directory:user:{{{user_id}}}"

    def edge(self, edge_id: str) -> str:
        return f"{self.namespace}:directory:edge:{{{edge_id}}}"

    def edge_sessions(self, edge_id: str) -> str:
        return f"{self.namespace}:directory:edge:{{{edge_id}}}:sessions"

    @property
    def leases(self) -> str:
        return f"{self.namespace}:directory:{{{self.namespace}:leases}}"

    @property
    def edges(self) -> str:
        return f"{self.namespace}:directory:{{{self.namespace}:edges}}"


def event_channel(topic: str, namespace: str = DEFAULT_NAMESPACE) -> str:
    return f"{namespace}:events:{{{namespace}:{topic}}}"
