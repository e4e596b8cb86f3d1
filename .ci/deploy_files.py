"""Checks the Dockerfile and compose.yaml without Docker (CI has none): they parse, and they agree
with each other, with deploy/haproxy.cfg and with what the build needs.

- Dockerfile (parsed by dockerfile-parse): a build stage and a runtime stage; every COPY source
  exists and is not excluded by .dockerignore; every file the server embeds at compile time
  (`include_bytes!("../../../web/…")`) is copied into the build; COPY --from names an earlier stage;
  the runtime stage runs as a user other than root, listens on 0.0.0.0 at the port it EXPOSEs, keeps
  its data in a VOLUME and has a HEALTHCHECK on /readyz.
- compose.yaml (parsed by PyYAML, merge keys resolved): known keys only; every service has an image
  or a build whose Dockerfile exists; depends_on names services, and `service_healthy` ones have a
  health check (their own, or the Dockerfile's); bind-mounted files exist and named volumes are
  declared; HAProxy gets exactly the variables deploy/haproxy.cfg reads, its server nodeN points at
  the service whose CONFAB_NODE_ID is N, on the port that node listens on, and its published ports
  are the ones it binds; node ids are unique; the store and bus URLs point at the PostgreSQL and NATS
  services with PostgreSQL's user, password and database; stop_grace_period outlasts the drain.

What this cannot tell: whether the images build and the containers run. `docker compose up --build`
does that where Docker is available (docs/operations.md says so).

    python3 .ci/deploy_files.py          # from the repository root or anywhere
"""

import fnmatch
import glob
import os
import re
import sys
from urllib.parse import urlsplit

import yaml
from dockerfile_parse import DockerfileParser

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
errors = []


def error(message):
    errors.append(message)


def duration_seconds(text):
    """Seconds in a duration like 30s, 1m30s, 500ms (compose and Confab write them alike)."""
    total = 0.0
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", str(text))
    if not parts or "".join(n + u for n, u in parts) != str(text):
        raise ValueError(f"not a duration: {text!r}")
    for number, unit in parts:
        total += float(number) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}[unit]
    return total


# --- .dockerignore -------------------------------------------------------------------------------

def dockerignore_patterns():
    path = os.path.join(ROOT, ".dockerignore")
    if not os.path.exists(path):
        return []
    patterns = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                patterns.append(line.lstrip("/").rstrip("/"))
    return patterns


def ignored(relpath, patterns):
    parts = relpath.split("/")
    for pattern in patterns:
        if pattern.startswith("!"):
            continue
        pattern = pattern.removeprefix("**/")
        # A pattern excludes the path itself or any folder above it.
        for i in range(1, len(parts) + 1):
            prefix = "/".join(parts[:i])
            if fnmatch.fnmatchcase(prefix, pattern) or fnmatch.fnmatchcase(parts[i - 1], pattern):
                return True
    return False


# --- Dockerfile ----------------------------------------------------------------------------------

def check_dockerfile(path):
    """Checks the Dockerfile; returns what compose needs to know about the image it builds."""
    parser = DockerfileParser(path=path)
    instructions = [i for i in parser.structure if i["instruction"] != "COMMENT"]
    if not instructions:
        error(f"{path}: no instructions")
        return {}
    known = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
             "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}
    for ins in instructions:
        if ins["instruction"] not in known:
            error(f"Dockerfile:{ins['startline'] + 1}: unknown instruction {ins['instruction']}")
    if instructions[0]["instruction"] not in ("FROM", "ARG"):
        error("Dockerfile: the first instruction is not FROM (or ARG)")

    stages = []  # [{name, image, instructions}]
    for ins in instructions:
        if ins["instruction"] == "FROM":
            words = ins["value"].split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            if len(words) not in (1, 3):
                error(f"Dockerfile:{ins['startline'] + 1}: FROM {ins['value']!r} is not `image [AS name]`")
            stages.append({"name": name, "image": words[0], "instructions": []})
        elif stages:
            stages[-1]["instructions"].append(ins)
    if len(stages) < 2:
        error("Dockerfile: not multi-stage (a build stage and a runtime stage)")
        return {}

    ignore = dockerignore_patterns()
    copied = []  # sources copied from the build context
    for index, stage in enumerate(stages):
        earlier = {s["name"] for s in stages[:index] if s["name"]}
        for ins in stage["instructions"]:
            if ins["instruction"] not in ("COPY", "ADD"):
                continue
            words = ins["value"].split()
            flags = [w for w in words if w.startswith("--")]
            args = [w for w in words if not w.startswith("--")]
            line = ins["startline"] + 1
            if len(args) < 2:
                error(f"Dockerfile:{line}: {ins['instruction']} needs a source and a destination")
                continue
            sources = args[:-1]
            source_stage = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None)
            if source_stage is not None:
                if source_stage not in earlier and not source_stage.isdigit():
                    error(f"Dockerfile:{line}: COPY --from={source_stage}: no earlier stage of that name")
                continue
            for source in sources:
                matches = glob.glob(os.path.join(ROOT, source))
                if not matches:
                    error(f"Dockerfile:{line}: COPY source {source} does not exist")
                for match in matches:
                    rel = os.path.relpath(match, ROOT)
                    if ignored(rel, ignore):
                        error(f"Dockerfile:{line}: COPY source {rel} is excluded by .dockerignore")
                copied.append(source)
            if len(sources) > 1 and not args[-1].endswith("/"):
                error(f"Dockerfile:{line}: several sources need a destination folder ending in /")

    # Every file the server embeds at compile time must be in the build context the build sees.
    embedded = set()
    for rs in glob.glob(os.path.join(ROOT, "crates", "*", "src", "**", "*.rs"), recursive=True):
        with open(rs) as f:
            for rel in re.findall(r'include_(?:bytes|str)!\(\s*"((?:\.\./)+[^"]+)"', f.read()):
                target = os.path.relpath(os.path.normpath(os.path.join(os.path.dirname(rs), rel)), ROOT)
                if not target.startswith("crates" + os.sep):
                    embedded.add(target)
    if not embedded:
        error("found no files embedded from outside crates/ (include_bytes!): the check is broken")

    def covered(target):
        for source in copied:
            source = source.rstrip("/")
            if target == source or target.startswith(source + "/") or fnmatch.fnmatchcase(target, source):
                return True
        return False

    for target in sorted(embedded):
        if not covered(target):
            error(f"Dockerfile: the server embeds {target}, which no COPY brings into the build")

    runtime = stages[-1]
    values = {}
    for ins in runtime["instructions"]:
        values.setdefault(ins["instruction"], []).append(ins["value"])
    user = (values.get("USER") or ["root"])[-1].split(":")[0]
    if user in ("root", "0"):
        error("Dockerfile: the runtime stage runs as root (add USER)")
    exposed = [int(p.split("/")[0]) for v in values.get("EXPOSE", []) for p in v.split()]
    env = parser.envs  # of the last stage
    listen = env.get("CONFAB_LISTEN", "")
    if not listen.startswith("0.0.0.0:"):
        error(f"Dockerfile: CONFAB_LISTEN={listen!r}: a container must listen on 0.0.0.0")
    port = int(listen.rsplit(":", 1)[1]) if ":" in listen else None
    if port not in exposed:
        error(f"Dockerfile: listens on port {port} but EXPOSEs {exposed}")
    data_dir = env.get("CONFAB_DATA_DIR")
    volumes = " ".join(values.get("VOLUME", []))
    if not data_dir or data_dir not in volumes:
        error(f"Dockerfile: CONFAB_DATA_DIR={data_dir!r} is not a VOLUME ({volumes!r})")
    healthcheck = " ".join(values.get("HEALTHCHECK", []))
    if "/readyz" not in healthcheck:
        error("Dockerfile: no HEALTHCHECK on /readyz")
    if not any("cargo build" in v and "-p confab" in v and "--release" in v for v in values_of(stages[0], "RUN")):
        error("Dockerfile: the build stage does not `cargo build --release -p confab`")
    return {"port": port, "healthcheck": bool(healthcheck), "env": env}


def values_of(stage, instruction):
    return [i["value"] for i in stage["instructions"] if i["instruction"] == instruction]


# --- compose.yaml --------------------------------------------------------------------------------

SERVICE_KEYS = {
    "build", "image", "command", "entrypoint", "environment", "env_file", "ports", "expose",
    "volumes", "depends_on", "healthcheck", "restart", "stop_grace_period", "stop_signal",
    "ulimits", "networks", "user", "working_dir", "labels", "deploy", "logging", "init",
    "container_name", "hostname", "profiles", "secrets", "configs", "cap_add", "cap_drop",
    "read_only", "tmpfs", "extra_hosts", "shm_size", "sysctls", "security_opt", "pull_policy",
}
HEALTHCHECK_KEYS = {"test", "interval", "timeout", "retries", "start_period", "start_interval", "disable"}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


def environment(service):
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {k: (None if v is None else str(v)) for k, v in env.items()}


def check_compose(path, image):
    with open(path) as f:
        doc = yaml.safe_load(f)
    if not isinstance(doc, dict) or not isinstance(doc.get("services"), dict):
        error("compose.yaml: no services")
        return
    for key in doc:
        if key not in {"name", "services", "volumes", "networks", "configs", "secrets", "include"} \
                and not key.startswith("x-"):
            error(f"compose.yaml: unknown top-level key {key!r}")
    services = doc["services"]
    declared_volumes = set((doc.get("volumes") or {}).keys())
    used_volumes = set()

    for name, service in services.items():
        where = f"compose.yaml: services.{name}"
        if not isinstance(service, dict):
            error(f"{where}: not a mapping")
            continue
        for key in service:
            if key not in SERVICE_KEYS:
                error(f"{where}: unknown key {key!r}")
        if "image" not in service and "build" not in service:
            error(f"{where}: neither image nor build")
        if "build" in service:
            build = service["build"]
            context = build if isinstance(build, str) else build.get("context", ".")
            dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
            if not os.path.isfile(os.path.join(ROOT, context, dockerfile)):
                error(f"{where}: build {context}/{dockerfile} does not exist")
        for key, value in environment(service).items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                error(f"{where}: bad variable name {key!r}")
        hc = service.get("healthcheck")
        if hc is not None:
            for key in hc:
                if key not in HEALTHCHECK_KEYS:
                    error(f"{where}.healthcheck: unknown key {key!r}")
            test = hc.get("test")
            if isinstance(test, list) and (not test or test[0] not in ("CMD", "CMD-SHELL", "NONE")):
                error(f"{where}.healthcheck.test: a list must start with CMD, CMD-SHELL or NONE")
            for key in ("interval", "timeout", "start_period"):
                if key in hc:
                    try:
                        duration_seconds(hc[key])
                    except ValueError as e:
                        error(f"{where}.healthcheck.{key}: {e}")
        depends = service.get("depends_on") or {}
        if isinstance(depends, list):
            depends = {d: {"condition": "service_started"} for d in depends}
        for other, how in depends.items():
            if other not in services:
                error(f"{where}.depends_on: no service {other!r}")
                continue
            condition = (how or {}).get("condition", "service_started")
            if condition not in CONDITIONS:
                error(f"{where}.depends_on.{other}: unknown condition {condition!r}")
            if condition == "service_healthy":
                target = services[other]
                has_check = "healthcheck" in target or ("build" in target and image.get("healthcheck"))
                if not has_check:
                    error(f"{where}.depends_on.{other}: service_healthy, but {other} has no health check")
        for volume in service.get("volumes") or []:
            spec = volume if isinstance(volume, str) else f"{volume.get('source')}:{volume.get('target')}"
            source = spec.split(":")[0]
            if source.startswith((".", "/")):
                if not os.path.exists(os.path.join(ROOT, source)):
                    error(f"{where}.volumes: {source} does not exist")
            else:
                used_volumes.add(source)
        for port in service.get("ports") or []:
            if not re.fullmatch(r"(?:[\d.]+:)?(?:\d+:)?\d+(?:/(?:tcp|udp))?", str(port)):
                error(f"{where}.ports: {port!r} is not [ip:][host:]container")
        if "stop_grace_period" in service:
            try:
                duration_seconds(service["stop_grace_period"])
            except ValueError as e:
                error(f"{where}.stop_grace_period: {e}")
    for volume in sorted(used_volumes - declared_volumes):
        error(f"compose.yaml: volume {volume!r} is used but not declared under volumes:")

    # The Confab nodes: the services built from the Dockerfile.
    nodes = {name: s for name, s in services.items() if "build" in s}
    if len(nodes) != 3:
        error(f"compose.yaml: {len(nodes)} Confab nodes (services with build:), expected 3")
    ids = {}
    for name, service in nodes.items():
        env = {**image.get("env", {}), **environment(service)}
        node_id = env.get("CONFAB_NODE_ID")
        if node_id is None or not node_id.isdigit():
            error(f"compose.yaml: {name} has no numeric CONFAB_NODE_ID")
            continue
        if node_id in ids:
            error(f"compose.yaml: {name} and {ids[node_id]} share CONFAB_NODE_ID {node_id}")
        ids[node_id] = name
        drain = duration_seconds(env.get("CONFAB_DRAIN_WINDOW", "10s"))
        grace = duration_seconds(service.get("stop_grace_period", "10s"))
        if grace <= drain + 5:
            error(f"compose.yaml: {name}: stop_grace_period {grace:g}s does not outlast the drain "
                  f"({drain:g}s window + 5 s)")
        check_backend_url(name, env.get("CONFAB_STORE"), "postgres", services)
        check_backend_url(name, env.get("CONFAB_BUS"), "nats", services)

    # HAProxy: the variables deploy/haproxy.cfg reads, and where they point.
    lbs = [n for n, s in services.items() if str(s.get("image", "")).startswith("haproxy")]
    if len(lbs) != 1:
        error(f"compose.yaml: {len(lbs)} haproxy services, expected 1")
        return
    lb_name = lbs[0]
    lb = services[lb_name]
    mounts = [v for v in lb.get("volumes") or [] if isinstance(v, str)]
    if not any(v.split(":")[:2] == ["./deploy/haproxy.cfg", "/usr/local/etc/haproxy/haproxy.cfg"] for v in mounts):
        error(f"compose.yaml: {lb_name} does not mount ./deploy/haproxy.cfg at /usr/local/etc/haproxy/haproxy.cfg")
    with open(os.path.join(ROOT, "deploy", "haproxy.cfg")) as f:
        cfg = f.read()
    cfg_code = "\n".join(line.split("#", 1)[0] for line in cfg.splitlines())
    wanted = set(re.findall(r"\$\{(\w+)\}", cfg_code))
    env = environment(lb)
    given = {k for k in env if k.startswith("CONFAB_")}
    for var in sorted(wanted - set(env)):
        error(f"compose.yaml: {lb_name} does not set {var}, which deploy/haproxy.cfg reads")
    for var in sorted(given - wanted):
        error(f"compose.yaml: {lb_name} sets {var}, which deploy/haproxy.cfg does not read")
    servers = re.findall(r'^\s*server\s+(\S+)\s+"\$\{(\w+)\}"', cfg_code, re.M)
    if not servers:
        error("deploy/haproxy.cfg: no `server NAME \"${VAR}\"` lines found")
    for server, var in servers:
        address = env.get(var) or ""
        host, _, port = address.rpartition(":")
        if host not in services:
            error(f"compose.yaml: {var}={address!r} does not name a service")
            continue
        match = re.fullmatch(r"node(\d+)", server)
        target_env = {**image.get("env", {}), **environment(services[host])}
        if match and target_env.get("CONFAB_NODE_ID") != match.group(1):
            error(f"compose.yaml: HAProxy's {server} ({var}) is {host}, whose CONFAB_NODE_ID is "
                  f"{target_env.get('CONFAB_NODE_ID')}: long-poll sessions would be routed to the wrong node")
        listen = target_env.get("CONFAB_LISTEN", "")
        if listen.rsplit(":", 1)[-1] != port:
            error(f"compose.yaml: {var}={address!r}, but {host} listens on {listen!r}")
        if server not in {f"node{i}" for i in ids} and match:
            error(f"compose.yaml: HAProxy's {server} has no node")
    binds = {env.get(v, "").rsplit(":", 1)[-1] for v in ("CONFAB_LB_ADDR", "CONFAB_LB_STATS")}
    for var in ("CONFAB_LB_ADDR", "CONFAB_LB_STATS"):
        if not env.get(var, "").startswith("0.0.0.0:"):
            error(f"compose.yaml: {lb_name}'s {var} must bind 0.0.0.0 inside its container")
    published = {str(p).split("/")[0].rsplit(":", 1)[-1] for p in lb.get("ports") or []}
    for port in sorted(published - binds):
        error(f"compose.yaml: {lb_name} publishes container port {port}, where it binds nothing")
    for port in sorted(binds - published):
        error(f"compose.yaml: {lb_name} binds port {port}, which is not published")


def check_backend_url(node, url, kind, services):
    if not url:
        error(f"compose.yaml: {node} has no {'CONFAB_STORE' if kind == 'postgres' else 'CONFAB_BUS'}")
        return
    for one in url.split(","):
        parts = urlsplit(one)
        service = services.get(parts.hostname)
        if service is None:
            error(f"compose.yaml: {node}: {one} names no service")
            continue
        if not str(service.get("image", "")).startswith(kind):
            error(f"compose.yaml: {node}: {one} is not a {kind} service")
        if kind == "postgres":
            env = environment(service)
            expected = (env.get("POSTGRES_USER", "postgres"), env.get("POSTGRES_PASSWORD"),
                        env.get("POSTGRES_DB", env.get("POSTGRES_USER", "postgres")))
            got = (parts.username, parts.password, parts.path.lstrip("/"))
            if got != expected:
                error(f"compose.yaml: {node}: store URL user/password/database {got} do not match "
                      f"the postgres service's {expected}")
            if parts.port not in (None, 5432):
                error(f"compose.yaml: {node}: PostgreSQL listens on 5432, not {parts.port}")
        if kind == "nats" and parts.port not in (None, 4222):
            error(f"compose.yaml: {node}: NATS listens on 4222, not {parts.port}")


def main():
    image = check_dockerfile(os.path.join(ROOT, "Dockerfile"))
    check_compose(os.path.join(ROOT, "compose.yaml"), image)
    if errors:
        for e in errors:
            print(f"deploy files: {e}", file=sys.stderr)
        print(f"deploy files: {len(errors)} problem(s)", file=sys.stderr)
        return 1
    print("deploy files: Dockerfile and compose.yaml parse and agree with each other, with "
          "deploy/haproxy.cfg and with the files the build embeds (not built or run: no Docker)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
