"""Offline checks of deploy/: Kubernetes manifests, compose file, Prometheus rules, Grafana dashboard, image, systemd.

No container engine or cluster exists on the development machines, so each
file is checked against its real schema or tool where one exists
(kubernetes-validate, the Compose specification via check-jsonschema,
promtool, systemd-analyze) and cross-checked against the node itself: every
command line parses with idnode's own CLI and every configuration loads with
idnode's own settings parser. Each validator is also fed a broken copy, to
show it can fail. Metric names against a live node: tests/node/test_deploy_metrics_node.py.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import kubernetes_validate
import pytest
import yaml
from dockerfile_parse import DockerfileParser

from idnode.cli import main as cli_main
from idnode.settings import Settings, load_settings, parse_listen

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
PROMETHEUS = DEPLOY / "prometheus"
GRAFANA = DEPLOY / "grafana"
K8S_VERSIONS = ("1.29.0", kubernetes_validate.latest_version() + ".0")  # oldest supported here, newest known
CRD_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}  # no schema in kubernetes-validate: checked below
PROBES = 'method!~"GET /(healthz|readyz|metrics)"'  # HTTP routes left out of the error ratio
SERVER_ERROR_CODES = re.compile(r"^(2|3|5[0-9][0-9]|SERVFAIL)$")  # what the error-ratio alert and panel count


# -- helpers --------------------------------------------------------------------


def k8s_documents() -> list[dict[str, Any]]:
    documents = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                document["__file__"] = path.name
                documents.append(document)
    return documents


def k8s_kind(kind: str) -> list[dict[str, Any]]:
    return [d for d in k8s_documents() if d["kind"] == kind]


def resource(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key != "__file__"}


def workloads() -> list[dict[str, Any]]:
    return [d for d in k8s_documents() if d["kind"] in ("StatefulSet", "Deployment")]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def idnode_services() -> dict[str, dict[str, Any]]:
    """Compose services that run the idnode image."""
    return {name: s for name, s in compose()["services"].items() if s.get("image", "").startswith("idnode")}


def dockerfile() -> DockerfileParser:
    return DockerfileParser(path=str(DEPLOY / "Dockerfile"))


def final_stage(parser: DockerfileParser) -> list[dict[str, Any]]:
    starts = [i for i, item in enumerate(parser.structure) if item["instruction"] == "FROM"]
    return parser.structure[starts[-1] :]


def image_env() -> dict[str, str]:
    return {k: v for k, v in dockerfile().envs.items() if k.startswith("IDNODE_")}


def parse_command(args: list[str]) -> tuple[click.Command, dict[str, Any]]:
    """Parse an ``idnode ...`` command line with the real CLI, without running it.

    Returns the leaf command and its parameters; raises click's usage errors.
    """
    command: click.Command = cli_main
    rest = list(args)
    path = ["idnode"]
    while isinstance(command, click.Group):
        sub = command.commands.get(rest[0]) if rest else None
        assert sub is not None, f"unknown command {' '.join(path + rest[:1])}"
        path.append(rest.pop(0))
        command = sub
    ctx = command.make_context(" ".join(path), rest)
    return command, ctx.params


def settings_of(args: list[str], env: dict[str, str], files: dict[str, Path]) -> Settings:
    """The settings a ``serve`` line would run with: its flags, ``env`` and its --config (via ``files``)."""
    command, params = parse_command(args)
    assert command.name == "serve", args
    config = params.pop("config", None)
    return load_settings(params, env=env, config_path=files[config] if config else None)


def write_configmap_files(tmp_path: Path) -> dict[str, Path]:
    """Each ConfigMap key written where a pod mounts it, mapped to a local copy."""
    files = {}
    mounts = {
        v["configMap"]["name"]: m["mountPath"]
        for w in workloads()
        for v in w["spec"]["template"]["spec"].get("volumes", [])
        if "configMap" in v
        for c in w["spec"]["template"]["spec"]["containers"]
        for m in c.get("volumeMounts", [])
        if m["name"] == v["name"]
    }
    for cm in k8s_kind("ConfigMap"):
        for key, text in cm["data"].items():
            local = tmp_path / key
            local.write_text(text)
            files[f"{mounts[cm['metadata']['name']]}/{key}"] = local
    return files


def container_env(container: dict[str, Any]) -> dict[str, str]:
    """A container's literal environment; ``limits.cpu`` references resolved as the kubelet does (rounded up)."""
    env = {}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            ref = item["valueFrom"]["resourceFieldRef"]
            assert ref["resource"] == "limits.cpu", ref
            env[item["name"]] = str(math.ceil(cpu(container["resources"]["limits"]["cpu"])))
    return env


def cpu(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+)(ms|s|m|h)", duration)
    assert match, duration
    return int(match.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def readme_anchors() -> set[str]:
    """GitHub-style anchors of the headings of deploy/README.md."""
    anchors = set()
    for line in (DEPLOY / "README.md").read_text().splitlines():
        if line.startswith("#"):
            text = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^a-z0-9 _-]", "", text).replace(" ", "-"))
    return anchors


def promql_of_dashboard() -> Iterator[tuple[str, str]]:
    dashboard = json.loads((GRAFANA / "idnode.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield f"panel {panel['id']} {panel['title']!r} {target['refId']}", target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            yield f"variable {variable['name']}", variable["definition"]


def metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\bidnode_[a-z0-9_]+", expr))


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def run_promtool(promtool: str, *args: str, cwd: Path = PROMETHEUS) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


# -- Kubernetes -----------------------------------------------------------------


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk
    assert [i["name"] for i in kustomization["images"]] == ["idnode"]
    assert {c["image"] for w in workloads() for c in w["spec"]["template"]["spec"]["containers"]} == {"idnode"}


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_manifests_match_kubernetes_schemas(version: str) -> None:
    validated, no_schema = [], []
    for document in k8s_documents():
        try:
            kubernetes_validate.validate(resource(document), version, strict=True)
            validated.append(document["kind"])
        except kubernetes_validate.SchemaNotFoundError:
            no_schema.append((document["apiVersion"], document["kind"]))
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{document['__file__']} {document['kind']}: {exc.message} at {list(exc.path)}")
    assert set(no_schema) == CRD_KINDS  # only the Prometheus Operator CRD lacks a schema
    expected = {
        "Namespace",
        "ConfigMap",
        "StatefulSet",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    }
    assert set(validated) == expected


@pytest.mark.parametrize(
    "breakage",
    ["unknown field in the container", "port as text", "missing selector"],
)
def test_schema_validation_catches_broken_manifests(breakage: str) -> None:
    statefulset = resource(k8s_kind("StatefulSet")[0])
    container = statefulset["spec"]["template"]["spec"]["containers"][0]
    if breakage == "unknown field in the container":
        container["livenessProbes"] = container.pop("livenessProbe")
    elif breakage == "port as text":
        container["ports"][0]["containerPort"] = "fifty"
    else:
        del statefulset["spec"]["selector"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(statefulset, K8S_VERSIONS[-1], strict=True)


def test_services_select_pods_and_name_their_ports() -> None:
    pods = [w["spec"]["template"] for w in workloads()]
    for service in k8s_kind("Service"):
        matched = [p for p in pods if selects(service["spec"]["selector"], p["metadata"]["labels"])]
        assert matched, f"Service {service['metadata']['name']} selects no pod"
        for pod in matched:
            ports = {(p["name"], p["protocol"]) for c in pod["spec"]["containers"] for p in c["ports"]}
            for port in service["spec"]["ports"]:
                assert (port["targetPort"], port["protocol"]) in ports, (service["metadata"]["name"], port)
        protocols = {(p["port"], p["protocol"]) for p in service["spec"]["ports"]}
        if any(p["name"].startswith("dns") for p in service["spec"]["ports"]):
            assert {(53, "UDP"), (53, "TCP")} <= protocols  # DNS over both transports


def test_workload_selectors_probes_resources_and_security() -> None:
    for workload in workloads():
        name = workload["metadata"]["name"]
        template = workload["spec"]["template"]
        assert selects(workload["spec"]["selector"]["matchLabels"], template["metadata"]["labels"]), name
        pod = template["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        for container in pod["containers"]:
            assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}, name
            assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}, name
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), name
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"]["drop"] == ["ALL"]
            assert security["readOnlyRootFilesystem"] is True
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert "/tmp" in mounts  # a read-only root needs a writable /tmp


def test_primary_keeps_its_data_on_a_persistent_volume(tmp_path: Path) -> None:
    (primary,) = k8s_kind("StatefulSet")
    assert primary["spec"]["replicas"] == 1
    headless = {s["metadata"]["name"]: s for s in k8s_kind("Service")}[primary["spec"]["serviceName"]]
    assert headless["spec"]["clusterIP"] == "None"
    (claim,) = primary["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    pod = primary["spec"]["template"]["spec"]
    assert claim["metadata"]["name"] not in {v["name"] for v in pod["volumes"]}  # not shadowed by a pod volume
    (container,) = pod["containers"]
    mount = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}[claim["metadata"]["name"]]
    settings = settings_of(container["args"], container_env(container), write_configmap_files(tmp_path))
    assert Path(mount) in settings.data_dir.parents  # the store lives on the claim


def test_container_lines_parse_and_configure_a_node(tmp_path: Path) -> None:
    files = write_configmap_files(tmp_path)
    pods = {w["metadata"]["name"]: w["spec"]["template"] for w in workloads()}
    for name, template in pods.items():
        (container,) = template["spec"]["containers"]
        settings = settings_of(container["args"], container_env(container), files)
        ports = {(p["containerPort"], p["protocol"]) for p in container["ports"]}
        assert (parse_listen(settings.grpc_listen)[1], "TCP") in ports, name
        assert (parse_listen(settings.http_listen)[1], "TCP") in ports, name
        dns_port = parse_listen(settings.dns_listen)[1]
        assert {(dns_port, "UDP"), (dns_port, "TCP")} <= ports, name
        for listen in (settings.grpc_listen, settings.http_listen, settings.dns_listen):
            assert parse_listen(listen)[0] == "0.0.0.0", (name, listen)  # reachable from other pods
        assert settings.workers == math.ceil(cpu(container["resources"]["limits"]["cpu"]))
        assert settings.log_format == "json"
        drain = settings.grace + 5  # the supervisor gives workers grace + 5 s, then stops the writer
        assert template["spec"]["terminationGracePeriodSeconds"] > drain, name


def test_replicas_follow_the_primary_service(tmp_path: Path) -> None:
    (replicas,) = k8s_kind("Deployment")
    (container,) = replicas["spec"]["template"]["spec"]["containers"]
    settings = settings_of(container["args"], container_env(container), write_configmap_files(tmp_path))
    assert settings.replica_of is not None
    host, port = parse_listen(settings.replica_of)
    service = {s["metadata"]["name"]: s for s in k8s_kind("Service")}[host]
    (primary,) = k8s_kind("StatefulSet")
    assert selects(service["spec"]["selector"], primary["spec"]["template"]["metadata"]["labels"])
    assert not selects(service["spec"]["selector"], replicas["spec"]["template"]["metadata"]["labels"])
    assert any(p["port"] == port and p["targetPort"] == "grpc" for p in service["spec"]["ports"])
    # The lag alert fires where a replica stops being ready (/readyz above --max-replica-lag).
    (rule,) = [r for r in alert_rules() if r["alert"] == "IdnodeReplicationLagHigh"]
    assert rule["expr"] == f"idnode_replication_lag_seconds > {settings.max_replica_lag:g}"


def test_replicas_read_their_primary_credential_from_a_documented_secret() -> None:
    (replicas,) = k8s_kind("Deployment")
    pod = replicas["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    token_file = Path(container["args"][container["args"].index("--primary-token-file") + 1])
    secrets = {v["name"]: v["secret"] for v in pod["volumes"] if "secret" in v}
    mounts = {m["name"]: Path(m["mountPath"]) for m in container["volumeMounts"]}
    (name,) = [name for name in secrets if mounts[name] == token_file.parent]
    assert pod["securityContext"]["fsGroup"] and secrets[name]["defaultMode"] & 0o040  # the group can read it
    secret_name = secrets[name]["secretName"]
    assert secret_name not in {d["metadata"]["name"] for d in k8s_kind("Secret")}  # made on the running primary
    readme = (DEPLOY / "README.md").read_text()
    assert f"create secret generic {secret_name} --from-literal={token_file.name}=" in readme


def test_autoscaler_and_disruption_budget_target_the_replicas() -> None:
    (replicas,) = k8s_kind("Deployment")
    (hpa,) = k8s_kind("HorizontalPodAutoscaler")
    ref = hpa["spec"]["scaleTargetRef"]
    assert (ref["kind"], ref["name"]) == ("Deployment", replicas["metadata"]["name"])
    assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    (container,) = replicas["spec"]["template"]["spec"]["containers"]
    assert "cpu" in container["resources"]["requests"]  # utilisation targets need a request
    (pdb,) = k8s_kind("PodDisruptionBudget")
    labels = replicas["spec"]["template"]["metadata"]["labels"]
    assert selects(pdb["spec"]["selector"]["matchLabels"], labels)
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]  # a drain can always proceed


SERVICEMONITOR_FIELDS = {
    "apiVersion",
    "kind",
    "metadata",
    "spec",
}
SERVICEMONITOR_SPEC = {"selector", "endpoints", "namespaceSelector", "jobLabel", "targetLabels", "podTargetLabels"}
SERVICEMONITOR_ENDPOINT = {"port", "path", "interval", "scrapeTimeout", "scheme", "honorLabels", "relabelings"}


def test_servicemonitor_structure() -> None:
    """The ServiceMonitor CRD has no schema in kubernetes-validate: check its fields and that it scrapes /metrics.

    Checked: only known ServiceMonitor fields are used (a subset of the
    monitoring.coreos.com/v1 spec), its selector picks exactly one Service,
    that Service selects every idnode pod, and each endpoint names a port of it.
    """
    (monitor,) = [d for d in k8s_documents() if d["kind"] == "ServiceMonitor"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(resource(monitor)) <= SERVICEMONITOR_FIELDS
    assert set(monitor["spec"]) <= SERVICEMONITOR_SPEC
    matched = [
        s for s in k8s_kind("Service") if selects(monitor["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])
    ]
    assert len(matched) == 1, [s["metadata"]["name"] for s in matched]
    (service,) = matched
    for workload in workloads():
        assert selects(service["spec"]["selector"], workload["spec"]["template"]["metadata"]["labels"])
    port_names = {p["name"] for p in service["spec"]["ports"]}
    for endpoint in monitor["spec"]["endpoints"]:
        assert set(endpoint) <= SERVICEMONITOR_ENDPOINT
        assert endpoint["port"] in port_names
        assert endpoint["path"] == "/metrics"
        assert seconds(endpoint["scrapeTimeout"]) <= seconds(endpoint["interval"])


# -- compose ----------------------------------------------------------------------


def check_compose_schema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_compose_file_matches_the_compose_specification(tmp_path: Path) -> None:
    done = check_compose_schema(DEPLOY / "compose.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    broken = compose()
    broken["services"]["primary"]["ports"] = "50051"  # must be a list
    broken["services"]["replica"]["restart_policy"] = "always"  # no such key
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(broken))
    done = check_compose_schema(path)
    assert done.returncode != 0
    assert "ports" in done.stdout + done.stderr


def test_compose_runs_a_top_node_a_primary_a_replica_prometheus_and_grafana() -> None:
    services = compose()["services"]
    assert set(services) == {"topnode", "primary", "replica", "prometheus", "grafana"}
    nodes = idnode_services()
    assert set(nodes) == {"topnode", "primary", "replica"}
    build = nodes["primary"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    for service in services.values():
        assert set(service.get("depends_on", [])) <= set(services)
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), source


def test_compose_node_commands_parse_and_connect(tmp_path: Path) -> None:
    nodes = idnode_services()
    topnode_command, topnode_params = parse_command(nodes["topnode"]["command"])
    assert topnode_command.name == "serve" and topnode_command.callback.__module__.endswith("topnode.cli")
    top_port = parse_listen(topnode_params["grpc_listen"])[1]
    assert f"('127.0.0.1', {top_port})" in " ".join(nodes["topnode"]["healthcheck"]["test"])
    assert f"{top_port}:{top_port}" in nodes["topnode"]["ports"]
    base_env = image_env()
    primary_args = nodes["primary"]["command"]
    primary = settings_of(primary_args, {**base_env, **nodes["primary"]["environment"]}, {})
    assert primary.top == f"topnode:{top_port}"
    assert seconds(compose()["x-idnode"]["stop_grace_period"]) > primary.grace + 5
    replica_args = nodes["replica"]["command"]
    assert replica_args[replica_args.index("--replica-of") + 1] == f"primary:{parse_listen(primary.grpc_listen)[1]}"
    # The demo replica reads the primary's admin credential through a read-only mount of the primary's volume.
    token_file = Path(replica_args[replica_args.index("--primary-token-file") + 1])
    volumes = {v.split(":")[0]: v.split(":")[1:] for v in nodes["primary"]["volumes"]}
    ((primary_volume, (primary_mount,)),) = volumes.items()
    (replica_mount, mode) = {v.split(":")[0]: v.split(":")[1:] for v in nodes["replica"]["volumes"]}[primary_volume]
    assert mode == "ro"
    assert token_file == replica_mount / primary.admin_credential_path.relative_to(primary_mount)
    replica = settings_of(replica_args, {**base_env, **nodes["replica"]["environment"]}, {})
    assert replica.node_prefix == primary.node_prefix
    assert replica.replica_of == "primary:50051" and primary.replica_of is None


def test_prometheus_scrapes_every_node_of_the_compose_file(promtool: str) -> None:
    done = run_promtool(promtool, "check", "config", "prometheus.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    targets = {t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    http_port = parse_listen(image_env()["IDNODE_HTTP_LISTEN"])[1]
    assert targets == {f"{name}:{http_port}" for name in ("primary", "replica")}
    assert {job["metrics_path"] for job in config["scrape_configs"]} == {"/metrics"}
    mounts = [v for v in compose()["services"]["prometheus"]["volumes"] if v.startswith("./prometheus:")]
    assert mounts and mounts[0].split(":")[1] == "/etc/prometheus"


def test_grafana_provisioning_points_at_the_dashboard_and_prometheus() -> None:
    datasources = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())["datasources"]
    (datasource,) = datasources
    assert datasource["url"] == "http://prometheus:9090"
    dashboard = json.loads((GRAFANA / "idnode.json").read_text())
    (variable,) = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert variable["current"]["value"] == datasource["uid"]
    (provider,) = yaml.safe_load((GRAFANA / "provisioning/dashboards/idnode.yml").read_text())["providers"]
    mounts = dict(v.split(":")[:2] for v in compose()["services"]["grafana"]["volumes"] if v.startswith("./"))
    assert mounts["./grafana/idnode.json"] == f"{provider['options']['path']}/idnode.json"
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"


# -- Prometheus rules ---------------------------------------------------------------


def test_alert_rules_pass_promtool_check_and_unit_tests(promtool: str) -> None:
    done = run_promtool(promtool, "check", "rules", "alerts.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    done = run_promtool(promtool, "test", "rules", "alerts_test.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_rejects_a_broken_rule(promtool: str, tmp_path: Path) -> None:
    document = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    document["groups"][0]["rules"][1]["expr"] = "idnode_sync_lag_seconds > > 300"
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(document))
    done = run_promtool(promtool, "check", "rules", "alerts.yml", cwd=tmp_path)
    assert done.returncode != 0
    assert "parse error" in done.stdout + done.stderr


def test_every_alert_has_for_severity_summary_and_a_runbook() -> None:
    anchors = readme_anchors()
    names = set()
    for rule in alert_rules():
        names.add(rule["alert"])
        assert seconds(rule["for"]) > 0, rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
        page, _, anchor = rule["annotations"]["runbook"].partition("#")
        assert page == "deploy/README.md" and anchor in anchors, rule["alert"]
    assert len(names) == len(alert_rules())


def test_alerts_cover_the_issue_list() -> None:
    used = set().union(*(metric_names(rule["expr"]) for rule in alert_rules()))
    assert {
        "idnode_sync_lag_seconds",  # sync lag
        "idnode_replication_lag_seconds",  # replication lag
        "idnode_requests_total",  # error ratio
        "idnode_lmdb_used_bytes",  # map usage
        "idnode_lmdb_map_size_bytes",
        "idnode_worker_restarts_total",  # worker restarts
    } <= used


# -- Grafana dashboard --------------------------------------------------------------


def test_dashboard_is_valid_json_with_unique_panels() -> None:
    dashboard = json.loads((GRAFANA / "idnode.json").read_text())
    assert dashboard["uid"] == "idnode"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["targets"] and all(t["expr"] for t in panel["targets"]), panel["title"]


def test_dashboard_queries_are_valid_promql(promtool: str, tmp_path: Path) -> None:
    """promtool parses every panel query (Grafana's variables replaced by values) as a recording rule."""
    rules = []
    for index, (where, expr) in enumerate(promql_of_dashboard()):
        if where.startswith("variable"):
            match = re.fullmatch(r"label_values\((\w+), *(\w+)\)", expr)
            assert match, (where, expr)  # Grafana's function, not PromQL: check its metric instead
            expr = match.group(1)
        concrete = expr.replace("$__rate_interval", "1m").replace("$instance", ".+")
        assert "$" not in concrete, (where, expr)
        rules.append({"record": f"dashboard:query_{index}", "expr": concrete})
    (tmp_path / "dashboard.yml").write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = run_promtool(promtool, "check", "rules", "dashboard.yml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_dashboard_shows_every_contract_metric() -> None:
    """Every metric of the node's contract appears on the dashboard (the live node check is in tests/node)."""
    used = set().union(*(metric_names(expr) for _, expr in promql_of_dashboard()))
    families = {re.sub(r"_(bucket|sum|count)$", "", name) for name in used}
    assert {
        "idnode_requests_total",
        "idnode_request_duration_seconds",
        "idnode_batch_items",
        "idnode_write_group_size",
        "idnode_recursion_cache_total",
        "idnode_lmdb_map_size_bytes",
        "idnode_lmdb_used_bytes",
        "idnode_lmdb_readers",
        "idnode_changelog_sequence",
        "idnode_sync_lag_sequences",
        "idnode_sync_lag_seconds",
        "idnode_replication_lag_sequences",
        "idnode_replication_lag_seconds",
        "idnode_replication_applied_total",
        "idnode_registrations_total",
        "idnode_worker_restarts_total",
        "idnode_build_info",
    } <= families


def test_error_ratio_counts_server_errors_only() -> None:
    """The alerts and the panel share one code selector: Handle 2/3, HTTP 5xx, SERVFAIL; never 1/100/404/NXDOMAIN."""
    selectors = set()
    for expr in [rule["expr"] for rule in alert_rules()] + [e for _, e in promql_of_dashboard()]:
        found = re.findall(r'code=~"([^"]+)"', expr)
        selectors.update(found)
        if found:  # probes and scrapes are left out of both sides of the ratio
            totals = re.findall(r"idnode_requests_total\{([^}]*)\}", expr)
            assert len(totals) == 2 and all(PROBES in labels for labels in totals), expr
    (selector,) = selectors
    pattern = re.compile(f"^(?:{selector})$")
    for code in ("2", "3", "500", "503", "SERVFAIL"):
        assert pattern.match(code) and SERVER_ERROR_CODES.match(code), code
    for code in ("1", "100", "102", "200", "404", "NOERROR", "NXDOMAIN", "REFUSED", "23"):
        assert not pattern.match(code), code


# -- container image ----------------------------------------------------------------


def test_dockerfile_is_multi_stage_non_root_with_health_check() -> None:
    parser = dockerfile()
    froms = [i["value"] for i in parser.structure if i["instruction"] == "FROM"]
    assert len(froms) == 2 and froms[0].endswith(" AS build"), froms
    stage = final_stage(parser)
    instructions = [i["instruction"] for i in stage]
    runs = " ".join(i["value"] for i in stage if i["instruction"] == "RUN")
    assert "gcc" not in runs  # the compiler stays in the build stage
    assert "from=build" in runs  # wheels come from the build stage
    build_runs = " ".join(i["value"] for i in parser.structure[: len(parser.structure) - len(stage)])
    assert "fast path: cython" in build_runs  # the build fails if the extensions did not compile
    (user,) = [i["value"] for i in stage if i["instruction"] == "USER"]
    args = {i["value"].split("=")[0]: i["value"].split("=")[1] for i in stage if i["instruction"] == "ARG"}
    uid = user.split(":")[0].replace("${UID}", args.get("UID", ""))
    assert uid.isdigit() and int(uid) != 0, user  # numeric, so Kubernetes can verify runAsNonRoot
    pods = {w["spec"]["template"]["spec"]["securityContext"]["runAsUser"] for w in workloads()}
    assert pods == {int(uid)}
    assert instructions.index("USER") < instructions.index("ENTRYPOINT")
    (healthcheck,) = [i["value"] for i in stage if i["instruction"] == "HEALTHCHECK"]
    assert "/healthz" in healthcheck and "CMD" in healthcheck
    exposed = set(" ".join(i["value"] for i in stage if i["instruction"] == "EXPOSE").split())
    assert exposed == {"50051/tcp", "8000/tcp", "8053/udp", "8053/tcp"}
    (stopsignal,) = [i["value"] for i in stage if i["instruction"] == "STOPSIGNAL"]
    assert stopsignal == "SIGTERM"
    (volume,) = [i["value"] for i in stage if i["instruction"] == "VOLUME"]
    assert json.loads(volume) == ["/var/lib/idnode"]
    (entrypoint,) = [i["value"] for i in stage if i["instruction"] == "ENTRYPOINT"]
    assert json.loads(entrypoint) == ["idnode"]  # exec form: idnode is PID 1 and receives SIGTERM


def test_image_environment_configures_a_node_on_every_interface() -> None:
    env = image_env()
    settings = load_settings({}, env=env)
    assert settings.data_dir == Path("/var/lib/idnode/data")
    for listen in (settings.grpc_listen, settings.http_listen, settings.dns_listen):
        assert parse_listen(listen)[0] == "0.0.0.0"
    exposed = {f"{parse_listen(settings.grpc_listen)[1]}/tcp", f"{parse_listen(settings.http_listen)[1]}/tcp"}
    stage = final_stage(dockerfile())
    assert exposed <= set(" ".join(i["value"] for i in stage if i["instruction"] == "EXPOSE").split())


def dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    import fnmatch

    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").removeprefix("**/")
        parts = Path(path).parts
        hit = any(fnmatch.fnmatch("/".join(parts[: i + 1]), pattern) for i in range(len(parts)))
        hit = hit or any(fnmatch.fnmatch(part, pattern) for part in parts)
        if hit:
            excluded = not negate
    return excluded


def test_dockerignore_keeps_the_build_inputs_and_drops_local_state() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    needed = ["pyproject.toml", "setup.py", "README.md", "_fastpath/_record_c.pyx"]
    needed += [f"{folder}/__init__.py" for folder in project["tool"]["setuptools"]["package-dir"].values()]
    for path in needed:
        assert not dockerignore_excludes(path, patterns), path
    for path in (".git/config", ".venv/bin/python", "idnode-data/data.mdb", "x/admin.credential", "_fastpath/a.so"):
        assert dockerignore_excludes(path, patterns), path


# -- systemd and the example configuration -------------------------------------------


def unit_file(name: str) -> dict[str, list[tuple[str, str]]]:
    sections: dict[str, list[tuple[str, str]]] = {}
    current = ""
    for line in (DEPLOY / name).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = line.strip("[]")
            sections[current] = []
        else:
            key, _, value = line.partition("=")
            sections[current].append((key, value))
    return sections


UNITS = ("idnode.service", "idnode-topnode.service")


@pytest.mark.parametrize("name", UNITS)
def test_systemd_unit_verifies(name: str, systemd_analyze: str, tmp_path: Path) -> None:
    """``systemd-analyze verify`` on the unit, with ExecStart pointed at this venv's idnode."""
    analyze = systemd_analyze
    idnode = Path(sys.executable).with_name("idnode")
    assert idnode.exists()
    text = (DEPLOY / name).read_text().replace("/opt/idnode/venv/bin/idnode", str(idnode))
    (tmp_path / name).write_text(text)
    done = subprocess.run([analyze, "verify", str(tmp_path / name)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and not done.stderr.strip() and not done.stdout.strip(), done.stdout + done.stderr
    (tmp_path / name).write_text(text.replace("TimeoutStopSec=", "TimeoutStopSecs="))
    done = subprocess.run([analyze, "verify", str(tmp_path / name)], capture_output=True, text=True, timeout=60)
    assert "Unknown key" in done.stderr  # the check sees a misspelt key


@pytest.mark.parametrize("name", UNITS)
def test_systemd_unit_stops_gracefully_and_is_hardened(name: str) -> None:
    unit = unit_file(name)
    service = dict(unit["Service"])
    exec_start = service["ExecStart"].split()
    assert exec_start[0] == "/opt/idnode/venv/bin/idnode"
    command, params = parse_command(exec_start[1:])
    assert command.name == "serve"
    if params.get("config"):
        assert params["config"] == "/etc/idnode/idnode.toml"
        env = {k: v for k, v in (e.split("=", 1) for _, e in unit["Service"] if _ == "Environment")}
        settings = load_settings({}, env=env, config_path=DEPLOY / "idnode.toml")
        grace = settings.grace
        assert str(settings.data_dir).startswith(service["ReadWritePaths"])
    else:
        grace = params["grace"]
        assert params["data_dir"].startswith(service["ReadWritePaths"])
    assert int(service["TimeoutStopSec"]) > grace + 5
    assert service["KillMode"] == "mixed"  # SIGTERM to the supervisor, which orders the drain
    assert service["Restart"] == "on-failure"
    assert service["User"] != "root"
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices", "ProtectKernelTunables"):
        assert service[key] == "true", key
    assert service["ProtectSystem"] == "strict"


def test_example_configuration_loads() -> None:
    settings = load_settings({}, env={}, config_path=DEPLOY / "idnode.toml")
    assert parse_listen(settings.dns_listen)[1] == 53  # idnode.service grants CAP_NET_BIND_SERVICE for it
    service = dict(unit_file("idnode.service")["Service"])
    assert service["AmbientCapabilities"] == "CAP_NET_BIND_SERVICE"
