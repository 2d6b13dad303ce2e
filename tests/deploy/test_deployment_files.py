"""The compose file and the Kubernetes manifests in deploy/ are valid and agree with the
code: they parse, every hubbub service runs a real entry point (deploy/cluster/processes.py,
the one `hubbub cluster up` runs), every HUBBUB_* variable they set names an option of that
process, each has probes (healthchecks), and the ports it listens on, the ports its Service
exposes and the targets the others dial all agree."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from deploy.cluster.processes import MODULES
from deploy.cluster_edge import PLACEMENT_PREFIX, EdgePlacement
from deploy.cluster_media import MediaLinks
from discovery.config import DiscoveryConfig
from discovery.zk_paths import ENV_PREFIX, ZooKeeperSettings
from edge.config import EdgeConfig
from kernel.config import env_name, env_names, from_env
from media.config import ENV_PREFIX as MEDIA_PREFIX
from media.config import MediaConfig
from messaging.config import STORE_FIELDS, MessagingConfig
from presence.config import PresenceConfig
from router.config import RouterConfig

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ZK = env_names(ZooKeeperSettings, ENV_PREFIX)
ROUTER_LOG_ENV = {env_name(name) for name in (*STORE_FIELDS, "worker_id", "worker_id_pod", "partitions")}
MEDIA_ENV = set(env_names(MediaConfig, MEDIA_PREFIX))
"""Read by messaging and a router writing the log too: where a deleted message's object goes
(deploy/media_remover.py)."""
KNOWN_ENV = {
    "deploy.cluster_messaging": {*env_names(MessagingConfig), *MEDIA_ENV},
    "deploy.cluster_presence": set(env_names(PresenceConfig)),
    # A router process also reads the log's options (it writes the Cassandra log itself).
    "deploy.cluster_router": {*env_names(RouterConfig), *ZK, *ROUTER_LOG_ENV, *MEDIA_ENV},
    "deploy.cluster_edge": {*env_names(EdgeConfig), *ZK, *env_names(EdgePlacement, PLACEMENT_PREFIX)},
    "deploy.cluster_discovery": {*env_names(DiscoveryConfig), *ZK},
    "deploy.cluster_media": {*env_names(MediaConfig, MEDIA_PREFIX), *env_names(MediaLinks)},
}
PORT_OPTIONS = ("HUBBUB_PORT", "HUBBUB_WS_PORT", "HUBBUB_GRPC_PORT", "HUBBUB_MEDIA_PORT")


def hubbub_module(command: list[str]) -> str | None:
    """The module a `python -m deploy.X` command runs; None for other images' commands."""
    if command[:2] == ["python", "-m"] and command[2].startswith("deploy."):
        return command[2]
    return None


def check_entry_point(module: str) -> None:
    assert module in MODULES.values(), f"{module} is not an entry point of deploy/cluster/processes.py"
    assert importlib.util.find_spec(module) is not None, module


# ------------------------------------------------------------------ compose


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def test_every_compose_service_runs_a_real_entry_point_with_options_it_knows(compose: dict[str, Any]) -> None:
    roles: dict[str, str] = {}
    for name, service in compose["services"].items():
        module = hubbub_module(service.get("command", []))
        assert "healthcheck" in service, f"{name} has no healthcheck"
        if module is None:
            continue
        check_entry_point(module)
        roles[name] = module
        unknown = {k for k in service["environment"] if k.startswith("HUBBUB_")} - KNOWN_ENV[module]
        assert not unknown, f"{name} sets options {module} does not have: {unknown}"
        assert service["env_file"] == "hubbub.env", f"{name}: the secrets come from the env file"
        assert not {"HUBBUB_TOKEN_SECRET", "HUBBUB_INTERNAL_SECRET"} & set(service["environment"])
    assert sorted(set(roles.values())) == sorted(MODULES.values()), "every role runs"
    assert sum(m == "deploy.cluster_router" for m in roles.values()) >= 2
    assert sum(m == "deploy.cluster_edge" for m in roles.values()) >= 2


def test_compose_targets_and_zookeeper_hosts_name_services_on_the_ports_they_listen_on(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    listening = {
        (name, int(service["environment"][option]))
        for name, service in services.items()
        for option in PORT_OPTIONS
        if option in service.get("environment", {})
    }
    listening |= {(name, 2181) for name, s in services.items() if s.get("image", "").startswith("zookeeper")}
    for name, service in services.items():
        env = service.get("environment", {})
        if "HUBBUB_HOST" in env:
            assert env["HUBBUB_HOST"] == service["hostname"], f"{name} binds its own name (it registers it)"
        dialled = [v for k, v in env.items() if k.endswith("_TARGET")]
        if "HUBBUB_MEDIA_INTERNAL_URL" in env:  # messaging's and the routers' internal delete
            dialled.append(urlsplit(env["HUBBUB_MEDIA_INTERNAL_URL"]).netloc)
        dialled += env.get("HUBBUB_ZOOKEEPER_HOSTS", "").split(",") if "HUBBUB_ZOOKEEPER_HOSTS" in env else []
        for target in dialled:
            host, port = target.rsplit(":", 1)
            assert (host, int(port)) in listening, f"{name} dials {target}, which nobody serves"
        for published in service.get("ports", []):
            inside = int(str(published).rsplit(":", 1)[1])
            assert (name, inside) in listening, f"{name} publishes {published}, not a port it listens on"


# ------------------------------------------------------------------ kubernetes


@pytest.fixture(scope="module")
def manifests() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def workloads(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in manifests if d["kind"] in ("Deployment", "StatefulSet")]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def test_every_manifest_is_a_known_kind_with_what_the_api_requires(manifests: list[dict[str, Any]]) -> None:
    kinds = {"Service", "Deployment", "StatefulSet", "ConfigMap"}
    for doc in manifests:
        assert doc["kind"] in kinds and doc["apiVersion"] and doc["metadata"]["name"], doc
    for work in workloads(manifests):
        spec = work["spec"]
        assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
        if work["kind"] == "StatefulSet":
            services = {d["metadata"]["name"] for d in manifests if d["kind"] == "Service"}
            assert spec["serviceName"] in services, work["metadata"]["name"]


def test_every_workload_runs_a_real_entry_point_with_probes_on_its_ports(
    manifests: list[dict[str, Any]],
) -> None:
    config = next(d for d in manifests if d["kind"] == "ConfigMap")
    every_known = set().union(*KNOWN_ENV.values())
    assert not set(config["data"]) - every_known, "the ConfigMap sets options no process has"
    modules = []
    for work in workloads(manifests):
        for container in work["spec"]["template"]["spec"]["containers"]:
            ports = {p["containerPort"] for p in container["ports"]}
            for probe in ("readinessProbe", "livenessProbe"):
                assert probe in container, f"{work['metadata']['name']}: no {probe}"
                tcp = container[probe].get("tcpSocket")
                assert tcp is None or tcp["port"] in ports, f"{work['metadata']['name']} probes another port"
            module = hubbub_module(container["command"])
            if module is None:
                continue
            check_entry_point(module)
            modules.append(module)
            env = env_of(container)
            unknown = {k for k in env if k.startswith("HUBBUB_")} - KNOWN_ENV[module]
            assert not unknown, f"{work['metadata']['name']} sets options {module} does not have: {unknown}"
            listens = {int(env[o]) for o in PORT_OPTIONS if o in env}
            assert listens == ports, f"{work['metadata']['name']}: listens on {listens}, declares {ports}"
            refs = [r for r in container.get("envFrom", []) if "secretRef" in r]
            assert refs, f"{work['metadata']['name']}: the secrets come from the Secret"
    assert sorted(set(modules)) == sorted(MODULES.values()), "every role runs"


def test_the_optional_cassandra_config_sets_only_what_messaging_and_routers_read(
    manifests: list[dict[str, Any]],
) -> None:
    (optional,) = [d for d in yaml.safe_load_all((DEPLOY / "k8s/optional/cassandra.yaml").read_text()) if d]
    assert optional["kind"] == "ConfigMap"
    readers = [
        c
        for w in workloads(manifests)
        for c in w["spec"]["template"]["spec"]["containers"]
        if {"name": optional["metadata"]["name"], "optional": True}
        in [r.get("configMapRef") for r in c.get("envFrom", [])]
    ]
    assert sorted(hubbub_module(c["command"]) or "" for c in readers) == [
        "deploy.cluster_messaging",
        "deploy.cluster_router",
    ]
    for module in ("deploy.cluster_messaging", "deploy.cluster_router"):
        assert not set(optional["data"]) - KNOWN_ENV[module], module
    assert optional["data"]["HUBBUB_LOG_BACKEND"] == "cassandra"


def test_services_expose_the_ports_their_pods_listen_on_and_targets_name_them(
    manifests: list[dict[str, Any]],
) -> None:
    pods = {
        w["spec"]["template"]["metadata"]["labels"]["app"]: {
            p["containerPort"] for c in w["spec"]["template"]["spec"]["containers"] for p in c["ports"]
        }
        for w in workloads(manifests)
    }
    exposed: set[tuple[str, int]] = set()
    for service in (d for d in manifests if d["kind"] == "Service"):
        app = service["spec"]["selector"]["app"]
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in pods[app], f"{service['metadata']['name']} targets a closed port"
            exposed.add((service["metadata"]["name"], port["port"]))
    config = next(d for d in manifests if d["kind"] == "ConfigMap")["data"]
    dialled = [v for k, v in config.items() if k.endswith("_TARGET")] + config[
        "HUBBUB_ZOOKEEPER_HOSTS"
    ].split(",")
    for target in dialled:
        host, port = target.rsplit(":", 1)
        service = host.split(".")[-1]  # zookeeper-0.zookeeper: a pod of the headless Service
        assert (service, int(port)) in exposed, f"{target}: no Service exposes it"


def test_each_router_pod_gives_message_ids_as_a_worker_of_its_own(manifests: list[dict[str, Any]]) -> None:
    """With the Cassandra log every router gives message ids itself: the StatefulSet's pods,
    one template, must still be distinct workers, and none messaging's."""
    (router,) = [w for w in workloads(manifests) if w["metadata"]["name"] == "router"]
    (container,) = router["spec"]["template"]["spec"]["containers"]
    (messaging,) = [w for w in workloads(manifests) if w["metadata"]["name"] == "messaging"]
    messaging_env = env_of(messaging["spec"]["template"]["spec"]["containers"][0])
    taken = {from_env(MessagingConfig, env=plain(messaging_env, "messaging-0")).snowflake_worker}
    for ordinal in range(max(router["spec"]["replicas"], 8)):  # scaled up, too
        env = plain(env_of(container), f"router-{ordinal}")
        worker = from_env(MessagingConfig, env=env).snowflake_worker
        assert worker not in taken, f"router-{ordinal} gives ids as worker {worker}, as another process"
        taken.add(worker)


def plain(env: dict[str, Any], pod: str) -> dict[str, str]:
    """A container's env as its pod `pod` sees it: a value, or the pod's name for metadata.name."""
    named = {"fieldRef": {"fieldPath": "metadata.name"}}
    return {k: pod if v == named else str(v) for k, v in env.items() if isinstance(v, str) or v == named}
