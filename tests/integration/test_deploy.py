"""Deployment files (deploy/, docs/deploy.md): the Kubernetes manifests, the seccomp
profile, the systemd unit, the meson install script, the Dockerfile and the Grafana
dashboard say the same things as the broker: the ports in the configuration, the probe
paths, the metric names, the io_uring system calls, the fd limit.

Uses only Debian's python3 (yaml, json, tomllib, configparser). The one check that runs
the binary (MQTTD_BIN --check-config on the shipped configurations) is the only one
that may skip, and only when the binary rejects nothing but the [http] section."""

import configparser
import glob
import json
import os
import re
import shutil
import subprocess
import tempfile
import tomllib

import pytest
import yaml

import urllib.request

import mqtt_raw as raw
from conftest import MQTTD_BIN, SOURCE_ROOT, free_port

DEPLOY = os.path.join(SOURCE_ROOT, "deploy")
K8S = os.path.join(DEPLOY, "kubernetes")
SECCOMP = os.path.join(K8S, "seccomp", "mqttd-seccomp.json")
UNIT = os.path.join(DEPLOY, "systemd", "mqttd.service")
SYSUSERS = os.path.join(DEPLOY, "systemd", "mqttd.sysusers")
DOCKERFILE = os.path.join(DEPLOY, "docker", "Dockerfile")
DOCKER_TOML = os.path.join(DEPLOY, "docker", "mqttd.toml")
DASHBOARD = os.path.join(DEPLOY, "grafana", "mqttd-dashboard.json")

IO_URING = ["io_uring_setup", "io_uring_enter", "io_uring_register"]

# The metrics mqttd's /metrics serves (src/http/), with their labels.
METRICS = {
    "mqttd_build_info": {"version", "build_type"},
    "mqttd_connections": {"worker"},
    "mqttd_accepts_total": set(),
    "mqttd_connections_refused_total": {"reason"},
    "mqttd_messages_received_total": {"qos"},
    "mqttd_messages_sent_total": {"qos"},
    "mqttd_bytes_received_total": set(),
    "mqttd_bytes_sent_total": set(),
    "mqttd_messages_dropped_total": {"reason"},
    "mqttd_subscriptions": set(),
    "mqttd_retained_messages": set(),
    "mqttd_sessions": set(),
    "process_resident_memory_bytes": set(),
    "process_cpu_seconds_total": set(),
    "process_start_time_seconds": set(),
}
# Labels Prometheus adds to every scraped series.
TARGET_LABELS = {"instance", "job"}


# ---------------------------------------------------------------------------------------
# Kubernetes
# ---------------------------------------------------------------------------------------

def k8s_documents():
    """Every object in every YAML file under deploy/kubernetes, with its file."""
    docs = []
    for path in sorted(glob.glob(os.path.join(K8S, "**", "*.yaml"), recursive=True)):
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if doc is not None:
                    docs.append((os.path.relpath(path, K8S), doc))
    return docs


def objects(kind):
    return [d for _, d in k8s_documents() if d.get("kind") == kind]


def one(kind, name=None):
    found = [o for o in objects(kind) if name is None or o["metadata"]["name"] == name]
    assert len(found) == 1, "expected one %s %s, found %d" % (kind, name or "", len(found))
    return found[0]


def config_toml():
    return one("ConfigMap", "mqttd-config")["data"]["mqttd.toml"]


def pod_spec():
    return one("DaemonSet", "mqttd")["spec"]["template"]["spec"]


def container():
    containers = pod_spec()["containers"]
    assert len(containers) == 1
    return containers[0]


def container_port(port):
    """A probe's or Service's port (number or name) as the container's port number."""
    if isinstance(port, int):
        return port
    for p in container().get("ports", []):
        if p.get("name") == port:
            return p["containerPort"]
    raise AssertionError("port name %r is not a container port" % port)


def test_every_manifest_parses_and_has_kind():
    docs = k8s_documents()
    assert docs, "no manifests under deploy/kubernetes"
    for path, doc in docs:
        assert "apiVersion" in doc and "kind" in doc, "%s: object without apiVersion/kind" % path


def test_kustomizations_reference_existing_files():
    kustomizations = [(p, d) for p, d in k8s_documents() if d["kind"] == "Kustomization"]
    assert any(p == "kustomization.yaml" for p, _ in kustomizations)
    for path, k in kustomizations:
        base = os.path.dirname(os.path.join(K8S, path))
        for r in k.get("resources", []):
            assert os.path.exists(os.path.join(base, r)), "%s: resource %s is missing" % (path, r)
        for patch in k.get("patches", []):
            target = patch["target"]
            assert objects(target["kind"]), "%s: patch targets no %s" % (path, target["kind"])
    # kubectl's built-in kustomize, where this machine has kubectl, builds every variant.
    kubectl = shutil.which("kubectl")
    if kubectl:
        for path, _ in kustomizations:
            d = os.path.dirname(os.path.join(K8S, path))
            r = subprocess.run([kubectl, "kustomize", d], capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, "kubectl kustomize %s: %s" % (path, r.stderr)


def test_configmap_listener_and_http_for_a_pod():
    cfg = tomllib.loads(config_toml())
    assert cfg["listener"] == [{"bind": "0.0.0.0", "port": 1883}]
    assert cfg["http"]["enabled"] is True
    assert cfg["http"]["bind"] == "0.0.0.0", "the kubelet probes the pod IP, not loopback"
    assert cfg["http"]["port"] == 9883


def test_docker_config_is_the_configmap():
    def settings(text):
        return [l.strip() for l in text.splitlines() if l.strip() and not l.strip().startswith("#")]
    with open(DOCKER_TOML) as f:
        assert settings(f.read()) == settings(config_toml())


def test_probes_match_http_port():
    http_port = tomllib.loads(config_toml())["http"]["port"]
    c = container()
    ready = c["readinessProbe"]["httpGet"]
    live = c["livenessProbe"]["httpGet"]
    assert ready["path"] == "/readyz"
    assert live["path"] == "/healthz"
    assert container_port(ready["port"]) == http_port
    assert container_port(live["port"]) == http_port
    ports = {p["containerPort"] for p in c["ports"]}
    mqtt_ports = {l["port"] for l in tomllib.loads(config_toml())["listener"]}
    assert mqtt_ports | {http_port} <= ports


def test_pod_security():
    spec = pod_spec()
    pod_sc = spec["securityContext"]
    c_sc = container()["securityContext"]
    assert pod_sc["runAsNonRoot"] is True
    assert pod_sc["runAsUser"] == 10001
    assert c_sc["allowPrivilegeEscalation"] is False, \
        "the compact seccomp profile relies on no_new_privs (runc loads it just before exec)"
    assert c_sc["readOnlyRootFilesystem"] is True
    assert c_sc["capabilities"]["drop"] == ["ALL"]
    assert "add" not in c_sc["capabilities"]
    assert c_sc.get("privileged") is not True
    seccomp = pod_sc["seccompProfile"]
    assert seccomp["type"] == "Localhost"
    assert seccomp["localhostProfile"] == "profiles/" + os.path.basename(SECCOMP)
    assert "seccompProfile" not in c_sc or c_sc["seccompProfile"] == seccomp


def test_pod_sysctls_and_lifecycle():
    spec = pod_spec()
    grace = tomllib.loads(config_toml()).get("shutdown_grace", 0)
    # shutdown_grace not-ready seconds, then up to 5 s to disconnect and exit, then margin.
    assert spec["terminationGracePeriodSeconds"] >= max(10, grace + 5 + 5)
    sysctls = {s["name"]: s["value"] for s in spec["securityContext"]["sysctls"]}
    assert set(sysctls) == {"net.core.somaxconn", "net.ipv4.ip_local_port_range"}
    assert int(sysctls["net.core.somaxconn"]) >= 4096
    assert not spec.get("hostNetwork"), "hostNetwork is an overlay, and forbids pod sysctls"
    resources = container()["resources"]
    assert resources["requests"]["cpu"] and resources["requests"]["memory"]
    assert resources["limits"]["memory"]


def test_services():
    http_port = tomllib.loads(config_toml())["http"]["port"]
    mqtt = one("Service", "mqttd")
    assert [p["port"] for p in mqtt["spec"]["ports"]] == [1883]
    assert container_port(mqtt["spec"]["ports"][0]["targetPort"]) == 1883
    metrics = one("Service", "mqttd-metrics")
    assert [p["port"] for p in metrics["spec"]["ports"]] == [http_port]
    assert container_port(metrics["spec"]["ports"][0]["targetPort"]) == http_port
    annotations = metrics["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(http_port)
    assert annotations["prometheus.io/path"] == "/metrics"
    selector = one("DaemonSet", "mqttd")["spec"]["selector"]["matchLabels"]
    for svc in (mqtt, metrics):
        assert svc["spec"]["selector"] == selector


# ---------------------------------------------------------------------------------------
# seccomp profile
# ---------------------------------------------------------------------------------------

def seccomp_profile():
    with open(SECCOMP) as f:
        return json.load(f)


def seccomp_allowed():
    """Names the profile allows unconditionally (no argument filter)."""
    allowed = set()
    for rule in seccomp_profile()["syscalls"]:
        if rule["action"] == "SCMP_ACT_ALLOW" and not rule.get("args"):
            allowed.update(rule["names"])
    return allowed


def test_seccomp_profile_is_an_allow_list_with_io_uring():
    p = seccomp_profile()
    assert p["defaultAction"] in ("SCMP_ACT_ERRNO", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL")
    # EPERM is what mqttd recognises as "blocked" and explains at start-up.
    assert p.get("defaultErrnoRet", 1) == 1
    valid = {"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO"}
    for rule in p["syscalls"]:
        assert rule["action"] in valid
        assert rule["names"] and all(re.fullmatch(r"[a-z0-9_]+", n) for n in rule["names"])
    allowed = seccomp_allowed()
    for name in IO_URING:
        assert name in allowed, "%s must be allowed: runtime default profiles block it" % name
    for needed in ("execve", "mmap", "futex", "socket", "bind", "listen", "rt_sigtimedwait",
                   "exit_group", "prlimit64", "sched_setaffinity", "clock_gettime"):
        assert needed in allowed, needed
    for never in ("ptrace", "mount", "unshare", "setns", "bpf", "init_module", "kexec_load",
                  "open_by_handle_at", "keyctl", "perf_event_open"):
        assert never not in allowed, never
    # glibc's pthread_create tries clone3 and falls back to clone on ENOSYS; clone itself
    # is allowed only without namespace flags.
    rules = {n: r for r in p["syscalls"] for n in r["names"]}
    assert rules["clone3"]["action"] == "SCMP_ACT_ERRNO" and rules["clone3"]["errnoRet"] == 38
    assert rules["clone"]["args"][0]["op"] == "SCMP_CMP_MASKED_EQ"


# ---------------------------------------------------------------------------------------
# systemd unit
# ---------------------------------------------------------------------------------------

def unit():
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str  # keys are case-sensitive in systemd
    cp.read(UNIT)
    return cp


def unit_values(section, key):
    """Every value of a key that systemd lets repeat (configparser keeps the last one)."""
    values, current = [], None
    with open(UNIT) as f:
        for line in f:
            line = line.strip()
            if line.startswith("["):
                current = line.strip("[]")
            elif current == section and "=" in line and not line.startswith(("#", ";")):
                k, v = line.split("=", 1)
                if k.strip() == key:
                    values.append(v.strip())
    return values


def expand_syscall_group(name, seen=None):
    """Names in a systemd syscall group, from systemd-analyze where it exists."""
    seen = seen or set()
    if not name.startswith("@"):
        return {name}
    if name in seen:
        return set()
    seen.add(name)
    analyze = shutil.which("systemd-analyze")
    if analyze:
        r = subprocess.run([analyze, "syscall-filter", "--no-pager", name],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        out = set()
        for line in r.stdout.splitlines()[1:]:
            line = line.strip()
            if line and not line.startswith("#"):
                out |= expand_syscall_group(line, seen)
        return out
    # Without systemd-analyze: the facts this test needs (systemd >= 245's tables).
    known = {"@system-service": {"@aio"}, "@aio": set(IO_URING)}
    out = set()
    for member in known.get(name, set()):
        out |= expand_syscall_group(member, seen)
    return out


def effective_syscall_filter():
    """(allow-list or None, deny-list) as systemd builds them from SystemCallFilter=."""
    allow, deny = None, set()
    for value in unit_values("Service", "SystemCallFilter"):
        invert = value.startswith("~")
        names = set()
        for item in value.lstrip("~").split():
            names |= expand_syscall_group(item.split(":")[0])
        if invert:
            if allow is None:
                deny |= names
            else:
                allow -= names
        else:
            allow = names if allow is None else allow | names
            deny -= names
    return allow, deny


def test_unit_runs_mqttd_as_documented():
    svc = unit()["Service"]
    assert svc["ExecStart"] == "/usr/local/bin/mqttd --config /etc/mqttd/mqttd.toml"
    assert svc["Type"] in ("simple", "exec", "notify")
    assert svc["Restart"] in ("on-failure", "always")
    assert "2" in svc.get("RestartPreventExitStatus", "").split(), "exit 2 is a config error"
    reload = unit_values("Service", "ExecReload")
    assert "/bin/kill -HUP $MAINPID" in reload
    assert svc.get("TimeoutStopSec", "90") not in ("0", "infinity")


def test_unit_user_and_limits():
    svc = unit()["Service"]
    if svc.get("DynamicUser", "no") not in ("yes", "true", "1"):
        assert svc["User"] not in ("", "root", "0")
        with open(SYSUSERS) as f:
            entries = [l.split() for l in f if l.strip() and not l.startswith("#")]
        assert ["u", svc["User"]] in [e[:2] for e in entries], "sysusers.d must create the user"
    nofile = svc["LimitNOFILE"].split(":")[-1]
    assert nofile == "infinity" or int(nofile) >= 65536
    families = svc["RestrictAddressFamilies"].split()
    assert "AF_INET" in families and "AF_INET6" in families
    assert svc.get("NoNewPrivileges") == "yes"


def test_unit_syscall_filter_allows_io_uring_and_the_profile():
    allow, deny = effective_syscall_filter()
    for name in IO_URING:
        assert name not in deny, "SystemCallFilter blocks %s" % name
        assert allow is None or name in allow, "SystemCallFilter does not allow %s" % name
    if allow is not None and shutil.which("systemd-analyze"):
        # Everything the container profile allows (what mqttd calls) passes the unit too.
        missing = {n for n in seccomp_allowed() if n not in allow}
        # Names the host's syscall tables do not know on this architecture do not matter.
        missing -= {"open", "time"} if os.uname().machine == "aarch64" else set()
        assert not missing, "SystemCallFilter blocks %s" % sorted(missing)


def test_install_script_keeps_an_existing_configuration():
    script = os.path.join(SOURCE_ROOT, "scripts", "install-config.sh")
    example = os.path.join(SOURCE_ROOT, "mqttd.example.toml")
    with tempfile.TemporaryDirectory() as destdir:
        env = dict(os.environ, DESTDIR=destdir)
        env.pop("MESON_INSTALL_DRY_RUN", None)
        r = subprocess.run([script, example, "/etc/mqttd/mqttd.toml"], env=env,
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        target = os.path.join(destdir, "etc/mqttd/mqttd.toml")
        with open(target) as f, open(example) as g:
            assert f.read() == g.read()
        with open(target, "w") as f:
            f.write("workers = 3\n")
        r = subprocess.run([script, example, "/etc/mqttd/mqttd.toml"], env=env,
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and "keeping" in r.stdout
        with open(target) as f:
            assert f.read() == "workers = 3\n"
    with open(os.path.join(SOURCE_ROOT, "meson.build")) as f:
        meson = f.read()
    assert "scripts/install-config.sh" in meson and "deploy/systemd/mqttd.service" in meson


# ---------------------------------------------------------------------------------------
# Dockerfile
# ---------------------------------------------------------------------------------------

def test_dockerfile_base_images_and_user():
    with open(DOCKERFILE) as f:
        lines = [l.strip() for l in f if l.strip() and not l.strip().startswith("#")]
    froms = [l.split()[1] for l in lines if l.startswith("FROM ")]
    assert froms and all(re.fullmatch(r"debian:12(-slim)?", f) for f in froms), froms
    users = [l.split()[1] for l in lines if l.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert "EXPOSE 1883 9883" in lines


def test_dockerfile_packages_and_build_steps():
    """scripts/docker-steps.sh: packages exist in Debian 12, build commands as documented."""
    r = subprocess.run([os.path.join(SOURCE_ROOT, "scripts", "docker-steps.sh")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


# ---------------------------------------------------------------------------------------
# Grafana
# ---------------------------------------------------------------------------------------

PROMQL_WORDS = {"sum", "by", "rate", "irate", "increase", "count", "min", "max", "avg",
                "time", "clamp_min", "without", "on", "ignoring", "and", "or", "unless"}


def dashboard_exprs():
    with open(DASHBOARD) as f:
        dash = json.load(f)
    exprs = []

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "expr" and isinstance(v, str):
                    exprs.append(v)
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(dash)
    return dash, exprs


def test_dashboard_uses_only_served_metrics_and_all_of_them():
    dash, exprs = dashboard_exprs()
    assert exprs
    used = set()
    for e in exprs:
        stripped = re.sub(r'\{[^}]*\}|"[^"]*"|\[[^\]]*\]|\$\w+', " ", e)
        for word in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", stripped):
            if word in PROMQL_WORDS or word in TARGET_LABELS:
                continue
            if any(word in labels for labels in METRICS.values()):
                continue
            used.add(word)
        for metric, labels in METRICS.items():
            if metric in e:
                grouped = re.findall(r"by \(([^)]*)\)", e)
                for g in grouped:
                    for label in (x.strip() for x in g.split(",")):
                        known = set().union(*METRICS.values()) | TARGET_LABELS
                        assert label in known, "%s: unknown label %s" % (e, label)
    assert used <= set(METRICS), "not served by mqttd: %s" % sorted(used - set(METRICS))
    assert set(METRICS) <= used, "not on the dashboard: %s" % sorted(set(METRICS) - used)


def test_dashboard_has_a_datasource_variable():
    dash, _ = dashboard_exprs()
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in dash["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]


# ---------------------------------------------------------------------------------------
# The shipped configurations pass the binary's own check
# ---------------------------------------------------------------------------------------

def check_config(text):
    with tempfile.NamedTemporaryFile("w", suffix=".toml") as f:
        f.write(text)
        f.flush()
        return subprocess.run([MQTTD_BIN, "--config", f.name, "--check-config"],
                              capture_output=True, text=True, timeout=30)


def without_http(text):
    out, skipping = [], False
    for line in text.splitlines():
        if line.strip().startswith("["):
            skipping = line.strip() == "[http]"
        if not skipping:
            out.append(line)
    return "\n".join(out) + "\n"


def test_configmap_passes_check_config():
    text = config_toml()
    r = check_config(text)
    if r.returncode != 0 and "'http" in r.stderr and check_config(without_http(text)).returncode == 0:
        pytest.skip("this mqttd does not accept the [http] section yet (%s); everything else "
                    "in the ConfigMap passes --check-config" % r.stderr.strip())
    assert r.returncode == 0, r.stdout + r.stderr


RUN_WITH_PROFILE = os.path.join(K8S, "seccomp", "run-with-profile.py")


def sanitizer_build():
    out = subprocess.run([MQTTD_BIN, "--version"], capture_output=True, text=True).stdout
    return "sanitizer" in out


# The profile is for the production binary: ASan/UBSan/TSan runtimes make system calls of
# their own that it does not allow (and then report false errors).
needs_plain_build = pytest.mark.skipif(sanitizer_build(), reason="sanitizer build: its runtime "
                                       "needs system calls the production profile denies")


@needs_plain_build
def test_mqttd_serves_under_its_seccomp_profile(make_broker):
    """The shipped profile allows everything mqttd does: start-up, accepting, MQTT traffic
    across workers, the HTTP endpoint, and a clean SIGTERM exit (checked by make_broker)."""
    hport = free_port()
    b = make_broker(wrapper=["/usr/bin/python3", RUN_WITH_PROFILE, SECCOMP, "--"],
                    http={"enabled": True, "bind": "127.0.0.1", "port": hport})
    b.host = "127.0.0.1"
    sub = raw.Client(b, "under-seccomp-sub", 5)
    sub.sub("seccomp/t", 1)
    raw.Client(b, "under-seccomp-pub", 4).pub("seccomp/t", b"allowed", qos=1)
    assert sub.recv()["payload"] == b"allowed"
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % hport, timeout=5) as r:
        assert b"mqttd_connections" in r.read()
    assert "ERROR" not in b.read_log() and " E " not in b.read_log()


@needs_plain_build
def test_io_uring_blocked_by_seccomp_is_one_sentence_and_exit_1(tmp_path):
    """A container runtime's default profile denies io_uring: mqttd says so in one sentence
    that names the cause and the fix, and exits 1."""
    with open(SECCOMP) as f:
        profile = json.load(f)
    blocked = {"io_uring_setup", "io_uring_enter", "io_uring_register"}
    for rule in profile["syscalls"]:
        rule["names"] = [n for n in rule["names"] if n not in blocked]
    path = tmp_path / "no-io-uring.json"
    path.write_text(json.dumps(profile))
    r = subprocess.run(["/usr/bin/python3", RUN_WITH_PROFILE, str(path), "--", MQTTD_BIN,
                        "--port", str(free_port())], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, (r.returncode, r.stderr)
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, r.stderr
    assert "io_uring is blocked" in lines[0] and "seccomp" in lines[0]
    assert "deploy/kubernetes/seccomp/mqttd-seccomp.json" in lines[0]
