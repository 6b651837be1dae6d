"""deploy/kubernetes/*.yaml, parsed and checked the way a cluster would use them (no
cluster here): the kinds each file must have; pgsluice as a native sidecar (an init
container with restartPolicy: Always); readiness on /ready and liveness on /healthz, on a
declared container port that is the config's metrics port, with the metrics listener on
0.0.0.0 so the kubelet reaches it; the config's listen port declared; the ConfigMap's YAML
passing `pgsluice check` with every {env: NAME} it uses supplied by the container's env;
terminationGracePeriodSeconds longer than preStop plus shutdown_timeout; Service and
PodDisruptionBudget selecting the Deployment's pods.
Usage: kubernetes_test.py REPO_DIR PGSLUICE_BINARY"""
import os
import re
import subprocess
import sys
import tempfile

import yaml

repo, binary = sys.argv[1], sys.argv[2]
failures = []


def check(condition, message):
    print(("ok:   " if condition else "FAIL: ") + message)
    if not condition:
        failures.append(message)


def seconds(duration):
    match = re.fullmatch(r"(\d+)(ms|s|m|h)?", str(duration))
    value, unit = int(match.group(1)), match.group(2) or "s"
    return value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


def port_number(container, port):
    if isinstance(port, int):
        return port
    for declared in container.get("ports", []):
        if declared.get("name") == port:
            return declared["containerPort"]
    return None


def pgsluice_check(config_text, env_names):
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(config_text)
        f.flush()
        env = dict(os.environ, **{name: "placeholder-secret" for name in env_names})
        return subprocess.run([binary, "check", "-c", f.name], capture_output=True, text=True, env=env)


def check_pgsluice_container(where, container, pod, configmaps):
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = [m for m in container.get("volumeMounts", []) if m["mountPath"] in ("/etc/pgsluice", "/etc/pgsluice/pgsluice.yaml")]
    check(len(mounts) == 1, f"{where}: the config is mounted at /etc/pgsluice")
    if not mounts:
        return
    configmap = configmaps.get(volumes[mounts[0]["name"]]["configMap"]["name"])
    check(configmap is not None, f"{where}: its ConfigMap is in the same file")
    if configmap is None:
        return
    text = configmap["data"]["pgsluice.yaml"]
    config = yaml.safe_load(text)
    env = {e["name"]: e for e in container.get("env", [])}
    needed = re.findall(r"\{env: *([A-Za-z_][A-Za-z0-9_]*)\}", text)
    for name in needed:
        check(name in env and "secretKeyRef" in env[name].get("valueFrom", {}),
              f"{where}: {{env: {name}}} comes from a Secret")
    result = pgsluice_check(text, needed)
    check(result.returncode == 0, f"{where}: the ConfigMap passes pgsluice check ({result.stdout.strip()})")

    metrics_port = config["metrics"]["port"]
    check(config["metrics"].get("enabled", True) and config["metrics"]["address"] == "0.0.0.0",
          f"{where}: the metrics listener is on 0.0.0.0, where the kubelet's probes reach it")
    for probe, path in (("readinessProbe", "/ready"), ("livenessProbe", "/healthz")):
        http = container.get(probe, {}).get("httpGet", {})
        check(http.get("path") == path and port_number(container, http.get("port")) == metrics_port,
              f"{where}: {probe} asks {path} on the metrics port {metrics_port}")
    declared = [p["containerPort"] for p in container.get("ports", [])]
    check(config["listen"]["port"] in declared, f"{where}: the listen port {config['listen']['port']} is declared")
    check(container.get("securityContext", {}).get("runAsNonRoot") is True, f"{where}: runs as non-root")

    grace = pod.get("terminationGracePeriodSeconds", 30)
    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    pre_stop_seconds = int(pre_stop[1]) if pre_stop[:1] == ["sleep"] else 0
    drain = seconds(config.get("shutdown_timeout", "30s"))
    check(grace > pre_stop_seconds + drain,
          f"{where}: terminationGracePeriodSeconds {grace} > preStop {pre_stop_seconds} s + shutdown_timeout {drain:g} s")
    return config


def load(name):
    with open(os.path.join(repo, "deploy/kubernetes", name)) as f:
        documents = [d for d in yaml.safe_load_all(f) if d]
    by_kind = {}
    for d in documents:
        by_kind.setdefault(d["kind"], []).append(d)
    configmaps = {d["metadata"]["name"]: d for d in by_kind.get("ConfigMap", [])}
    return by_kind, configmaps


# The application with pgsluice as a native sidecar.
kinds, configmaps = load("sidecar.yaml")
check(sorted(kinds) == ["ConfigMap", "Deployment"], f"sidecar.yaml: a ConfigMap and a Deployment (got {sorted(kinds)})")
pod = kinds["Deployment"][0]["spec"]["template"]["spec"]
sidecars = [c for c in pod.get("initContainers", []) if c["name"] == "pgsluice"]
check(len(sidecars) == 1 and sidecars[0].get("restartPolicy") == "Always",
      "sidecar.yaml: pgsluice is an init container with restartPolicy: Always (a native sidecar)")
check(not any(c["name"] == "pgsluice" for c in pod["containers"]), "sidecar.yaml: pgsluice is not a main container")
if sidecars:
    config = check_pgsluice_container("sidecar.yaml", sidecars[0], pod, configmaps)
    app_env = {e["name"]: e.get("value") for e in pod["containers"][0].get("env", [])}
    check(app_env.get("PGPORT") == str(config["listen"]["port"]) and app_env.get("PGHOST") == config["listen"]["address"],
          "sidecar.yaml: the app connects to the sidecar's listen address and port")

# The shared pool: Deployment, Service, PodDisruptionBudget.
kinds, configmaps = load("shared-pool.yaml")
check(sorted(kinds) == ["ConfigMap", "Deployment", "PodDisruptionBudget", "Service"],
      f"shared-pool.yaml: ConfigMap, Deployment, Service, PodDisruptionBudget (got {sorted(kinds)})")
deployment = kinds["Deployment"][0]
pod = deployment["spec"]["template"]["spec"]
labels = deployment["spec"]["template"]["metadata"]["labels"]
container = next(c for c in pod["containers"] if c["name"] == "pgsluice")
check_pgsluice_container("shared-pool.yaml", container, pod, configmaps)
check(deployment["spec"]["replicas"] >= 2, "shared-pool.yaml: at least 2 replicas")
service = kinds["Service"][0]
check(service["spec"]["selector"].items() <= labels.items(), "shared-pool.yaml: the Service selects the pods")
for port in service["spec"]["ports"]:
    check(port_number(container, port["targetPort"]) is not None, f"shared-pool.yaml: Service port {port['name']} targets a declared port")
pdb = kinds["PodDisruptionBudget"][0]
check(pdb["spec"]["selector"]["matchLabels"].items() <= labels.items(), "shared-pool.yaml: the PDB selects the pods")
check(0 < pdb["spec"].get("minAvailable", 0) < deployment["spec"]["replicas"],
      "shared-pool.yaml: the PDB keeps one pod up and still lets a node drain")

sys.exit(1 if failures else 0)
