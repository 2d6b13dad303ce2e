"""Arize Phoenix, the tracing UI: an OTLP receiver with a web UI, run as a local server.

Phoenix pins its own protobuf, grpcio and OpenTelemetry, so it lives in its own virtualenv
(`.venv-phoenix` beside `.venv`, created on first use at the pinned version) and is started
as a process like the other local servers. Used by `hubbub up --trace-ui` and the tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from deploy.local_servers.process import LocalServer, ServerStartError, free_ports, port_open, start_server

PHOENIX_VERSION = "20.26.1"
PHOENIX_VENV = Path(__file__).resolve().parents[2] / ".venv-phoenix"
DEFAULT_UI_PORT = 6006
DEFAULT_OTLP_PORT = 4317  # the otlp exporter's default endpoint: hubbub finds it unconfigured
# A first start migrates its database and builds its app: slow on a loaded machine.
START_TIMEOUT_S = 180.0
INSTALL_TIMEOUT_S = 1800.0
SPANS_PAGE = 1000


def phoenix_executable(venv: Path = PHOENIX_VENV) -> Path:
    return venv / "bin" / "phoenix"


def ensure_phoenix(venv: Path = PHOENIX_VENV) -> Path:
    """The `phoenix` command of the pinned version, installed into `venv` if it is not there
    yet (minutes, once). Raises ServerStartError when the install fails."""
    stamp = venv / ".installed"
    if stamp.is_file() and stamp.read_text().strip() == PHOENIX_VERSION:
        return phoenix_executable(venv)
    python = venv / "bin" / "python"
    try:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", f"arize-phoenix=={PHOENIX_VERSION}"],
            check=True,
            timeout=INSTALL_TIMEOUT_S,
        )
    except (OSError, subprocess.SubprocessError) as error:
        raise ServerStartError(f"phoenix: cannot install arize-phoenix {PHOENIX_VERSION}: {error}") from error
    stamp.write_text(PHOENIX_VERSION + "\n")
    return phoenix_executable(venv)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as reply:
            return bool(reply.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def start_phoenix(
    working_dir: Path,
    *,
    host: str = "127.0.0.1",
    ui_port: int = 0,
    otlp_port: int = 0,
    venv: Path = PHOENIX_VENV,
) -> LocalServer:
    """Start Phoenix keeping its data in `working_dir`, on the given ports (0 = free ones).
    `info` holds `ui_url` (the web UI and REST API) and `otlp_endpoint` (for hubbub's
    `--otlp-endpoint`)."""
    executable = ensure_phoenix(venv)
    free_ui, free_otlp = free_ports(2, host)
    ui_port, otlp_port = ui_port or free_ui, otlp_port or free_otlp
    ui_url = f"http://{host}:{ui_port}"
    working_dir.mkdir(parents=True, exist_ok=True)
    env = {
        "PHOENIX_HOST": host,
        "PHOENIX_PORT": str(ui_port),
        "PHOENIX_GRPC_PORT": str(otlp_port),
        "PHOENIX_WORKING_DIR": str(working_dir),
        "PHOENIX_TELEMETRY_ENABLED": "false",
    }
    server = start_server(
        "phoenix",
        [str(executable), "serve"],
        log_path=working_dir / "phoenix.log",
        ready=lambda: port_open(host, otlp_port) and _healthy(ui_url),
        timeout=START_TIMEOUT_S,
        env=env,
    )
    server.info.update(ui_url=ui_url, otlp_endpoint=f"http://{host}:{otlp_port}")
    return server


def trace_spans(ui_url: str, trace_id: str, project: str = "default") -> list[dict[str, Any]]:
    """The spans Phoenix holds of one trace (its REST API), each as Phoenix answers it:
    `name`, `context.span_id`, `parent_id`, `attributes`."""
    query = urllib.parse.urlencode({"trace_id": trace_id, "limit": SPANS_PAGE})
    with urllib.request.urlopen(f"{ui_url}/v1/projects/{project}/spans?{query}", timeout=10) as reply:
        spans: list[dict[str, Any]] = json.loads(reply.read())["data"]
    return spans


def trace_url(ui_url: str, trace_id: str, project: str = "default") -> str:
    """Where a person sees one trace: the UI's trace view (it names projects by their id)."""
    with urllib.request.urlopen(f"{ui_url}/v1/projects", timeout=10) as reply:
        projects = json.loads(reply.read())["data"]
    (project_id,) = [p["id"] for p in projects if p["name"] == project]
    return f"{ui_url}/projects/{project_id}/traces/{trace_id}"


if __name__ == "__main__":  # `python -m deploy.local_servers.phoenix`: install it (./dev test)
    print(ensure_phoenix())
