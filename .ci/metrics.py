"""`/metrics` as Prometheus reads it: both text formats parse with Prometheus's own Python parsers
(prometheus_client, pinned in .ci/requirements.txt), each family once, and every metric that the
alert rules (deploy/prometheus/alerts.yml) and the Grafana dashboard (deploy/grafana/confab.json)
query is one the server exports."""

import json
import os
import re
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_classic

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from server import ROOT, Server  # noqa: E402

PROMETHEUS_ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                     "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
CLASSIC_ACCEPT = "text/plain;version=0.0.4;q=1,*/*;q=0.1"

passed = failed = 0


def check(what, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {what}")
    else:
        failed += 1
        print(f"FAIL {what}: {detail}")


def queried_metrics():
    """The `confab_*` names in the alert rules' and the dashboard's expressions."""
    names = set()
    with open(os.path.join(ROOT, "deploy/prometheus/alerts.yml")) as f:
        for line in f:
            if line.strip().startswith("expr:"):
                names.update(re.findall(r"\bconfab_[a-z_]+", line))
    with open(os.path.join(ROOT, "deploy/grafana/confab.json")) as f:
        dashboard = json.load(f)
    panels = [p for p in dashboard["panels"]] + [
        q for p in dashboard["panels"] for q in p.get("panels", [])]
    for panel in panels:
        for target in panel.get("targets", []):
            names.update(re.findall(r"\bconfab_[a-z_]+", target["expr"]))
    for variable in dashboard["templating"]["list"]:
        names.update(re.findall(r"\bconfab_[a-z_]+", variable.get("definition", "")))
    return names


def main():
    with Server() as server:
        alice = server.post("/api/v1/register", {"username": "alice", "password": "correct horse"})
        server.post("/api/v1/register", {"username": "bob", "password": "correct horse"})
        channel = server.post("/api/v1/channels", {"kind": "direct", "peer": "bob"}, alice["token"])
        server.post(f"/api/v1/channels/{channel['id']}/messages",
                    {"client_id": "ci-1", "body": "scraped"}, alice["token"])

        _, om_type, openmetrics = server.get("/metrics", {"accept": PROMETHEUS_ACCEPT})
        _, classic_type, classic = server.get("/metrics", {"accept": CLASSIC_ACCEPT})

    check("OpenMetrics content type", om_type.startswith("application/openmetrics-text; version=1.0.0"), om_type)
    check("classic content type", classic_type.startswith("text/plain; version=0.0.4"), classic_type)
    families = {}
    for name, parse, text in [("OpenMetrics", parse_openmetrics, openmetrics),
                              ("classic", parse_classic, classic)]:
        try:
            parsed = list(parse(text))
        except Exception as e:  # the parsers raise ValueError and others
            check(f"{name} parses", False, repr(e))
            continue
        check(f"{name} parses ({len(parsed)} families)", True)
        names = [f.name for f in parsed]
        check(f"{name}: each family once", len(names) == len(set(names)),
              sorted(n for n in names if names.count(n) > 1))
        families[name] = {f.name: f for f in parsed}
    if len(families) == 2:
        om, cl = families["OpenMetrics"], families["classic"]
        check("both formats hold the same families", set(om) == set(cl), set(om) ^ set(cl))
        for name, family in om.items():
            if name in cl:
                check(f"{name}: same type in both", family.type == cl[name].type,
                      f"{family.type} / {cl[name].type}")
        acks = [s.value for s in om["confab_acks"].samples if s.name == "confab_acks_total"]
        check("the send was counted", acks == [1.0], acks)
        exported = set(om) | {s.name for f in om.values() for s in f.samples}
        for name in sorted(queried_metrics()):
            check(f"alerts and dashboard: {name} is exported", name in exported, "not exported")

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
