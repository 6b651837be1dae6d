"""deploy/grafana/pgsluice.json: valid JSON in Grafana's dashboard shape (every panel has a
datasource and PromQL targets), and the same signals as the alert rules: every metric an
alert of deploy/prometheus/alerts.yml uses has a panel. (That each name exists in a real
scrape is checked by the integration test deploy_metrics_test.)
Usage: grafana_test.py REPO_DIR"""
import json
import re
import sys

repo = sys.argv[1]
failures = []


def check(condition, message):
    print(("ok:   " if condition else "FAIL: ") + message)
    if not condition:
        failures.append(message)


dashboard = json.load(open(f"{repo}/deploy/grafana/pgsluice.json"))
check(dashboard.get("uid") == "pgsluice" and dashboard.get("panels"), "a dashboard with uid pgsluice and panels")
exprs = []
for panel in dashboard["panels"]:
    targets = panel.get("targets", [])
    check(bool(targets) and all(t.get("expr") for t in targets) and "datasource" in panel,
          f"panel '{panel.get('title')}' has a datasource and PromQL targets")
    exprs += [t["expr"] for t in targets]
names = re.compile(r"\b(?:pgsluice|process)_[a-z_]+\b")
on_dashboard = set(names.findall("\n".join(exprs)))
in_alerts = set(names.findall(open(f"{repo}/deploy/prometheus/alerts.yml").read()))
check(in_alerts <= on_dashboard, f"every metric the alerts use has a panel (missing: {sorted(in_alerts - on_dashboard)})")
sys.exit(1 if failures else 0)
