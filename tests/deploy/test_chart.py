"""Chart checks: helm lint --strict, helm template for every ci/ values file,
offline validation of every rendered manifest against the Kubernetes API
schemas (kubernetes-validate ships them), and assertions that every workload
has the security context, probes and a NetworkPolicy."""
import glob
import os

import pytest
import yaml

from conftest import run

KUBE_VERSION = "1.30.0"
CHART = os.path.join(os.path.dirname(__file__), "..", "..", "helm", "mailyard")
CI_VALUES = sorted(glob.glob(os.path.join(CHART, "ci", "*.yaml")))
SERVICES = ("mx", "rewrite", "lists", "archive", "relay")
# Custom resources: the API schemas do not know them; checked structurally below.
CRD_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor"),
             ("cert-manager.io/v1", "Certificate"),
             ("external-secrets.io/v1beta1", "ExternalSecret")}


def template(helm, *args):
    r = run([helm, "template", "rel", CHART, "--namespace", "mail",
             "--kube-version", KUBE_VERSION] + list(args))
    return [d for d in yaml.safe_load_all(r.stdout) if d]


def by_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def validate(doc):
    """Strict validation (unknown fields refused) against the API schema."""
    import kubernetes_validate
    kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


def test_ci_values_files_exist():
    names = {os.path.basename(p) for p in CI_VALUES}
    assert {"minimal-values.yaml", "production-values.yaml",
            "external-secrets-values.yaml"} <= names


@pytest.mark.parametrize("values", [None] + CI_VALUES,
                         ids=["defaults"] + [os.path.basename(p) for p in CI_VALUES])
def test_lint_strict(helm, values):
    args = [helm, "lint", "--strict", CHART]
    if values:
        args += ["-f", values]
    r = run(args)
    assert "0 chart(s) failed" in r.stdout


@pytest.mark.parametrize("values", CI_VALUES, ids=[os.path.basename(p) for p in CI_VALUES])
def test_rendered_manifests_are_valid_and_hardened(helm, values):
    docs = template(helm, "-f", values)
    with open(values) as f:
        vals = yaml.safe_load(f) or {}
    np_enabled = vals.get("networkPolicy", {}).get("enabled", True)
    for d in docs:
        if (d["apiVersion"], d["kind"]) in CRD_KINDS:
            assert d["metadata"]["name"] and d["spec"], d
            continue
        validate(d)

    deployments = {d["metadata"]["labels"]["app.kubernetes.io/component"]: d
                   for d in by_kind(docs, "Deployment")}
    assert set(deployments) == set(SERVICES)
    jobs = by_kind(docs, "Job")
    assert len(jobs) == 1, "exactly one migration Job"
    job = jobs[0]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]

    policies = by_kind(docs, "NetworkPolicy")
    workloads = list(deployments.items()) + [("migrate", job)]
    for comp, w in workloads:
        pod = w["spec"]["template"]["spec"]
        psc = pod["securityContext"]
        assert psc["runAsNonRoot"] is True and psc["runAsUser"] > 0, comp
        assert psc["seccompProfile"]["type"] == "RuntimeDefault", comp
        assert pod["automountServiceAccountToken"] is False, comp
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True, comp
            assert sc["readOnlyRootFilesystem"] is True, comp
            assert sc["allowPrivilegeEscalation"] is False, comp
            assert sc["capabilities"]["drop"] == ["ALL"], comp
            assert sc["seccompProfile"]["type"] == "RuntimeDefault", comp
            assert c["resources"]["limits"] and c["resources"]["requests"], comp
            if comp != "migrate":
                assert c["livenessProbe"]["httpGet"]["path"] == "/healthz", comp
                assert c["readinessProbe"]["httpGet"]["path"] == "/readyz", comp
                assert c["lifecycle"]["preStop"]["exec"]["command"][0] == "/bin/sleep", comp
                env = {e["name"]: e for e in c["env"]}
                for secret_env in ("MAILYARD_PG_DSN", "MAILYARD_REDIS_URL"):
                    assert "secretKeyRef" in env[secret_env]["valueFrom"], comp
                assert "value" not in env["MAILYARD_PG_DSN"], "credentials only from Secrets"
        if comp != "migrate":
            assert "checksum/config" in w["spec"]["template"]["metadata"]["annotations"]
        if np_enabled:
            sel = w["spec"]["template"]["metadata"]["labels"]
            matching = [p for p in policies
                        if all(sel.get(k) == v for k, v in
                               p["spec"]["podSelector"]["matchLabels"].items())]
            assert matching, "no NetworkPolicy selects %s" % comp
            for p in matching:
                assert set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    mx = deployments["mx"]["spec"]["template"]["spec"]
    assert mx["terminationGracePeriodSeconds"] >= 60
    if np_enabled:
        assert_flows(policies)

    smtp = [s for s in by_kind(docs, "Service") if s["metadata"]["name"].endswith("-mx-smtp")][0]
    ports = {p["port"]: p["targetPort"] for p in smtp["spec"]["ports"]}
    assert ports[25] == "smtp"
    smtp_port = [p for p in deployments["mx"]["spec"]["template"]["spec"]["containers"][0]["ports"]
                 if p["name"] == "smtp"][0]["containerPort"]
    assert smtp_port >= 1024, "SMTP must map to an unprivileged container port"
    mode = vals.get("mx", {}).get("clientIp", {}).get("mode", "local")
    if smtp["spec"]["type"] == "LoadBalancer":
        want = "Local" if mode == "local" else "Cluster"
        assert smtp["spec"]["externalTrafficPolicy"] == want
    if mode == "proxyProtocol":
        env = {e["name"]: e.get("value") for e in
               deployments["mx"]["spec"]["template"]["spec"]["containers"][0]["env"]}
        pp = vals["mx"]["clientIp"].get("proxyProtocol", {})
        for listener, var in (("smtp", "MAILYARD_SMTP_PROXY_PROTOCOL"),
                              ("submission", "MAILYARD_SUBMISSION_PROXY_PROTOCOL"),
                              ("smtps", "MAILYARD_SMTPS_PROXY_PROTOCOL")):
            assert env[var] == pp.get(listener, "any"), var
            assert env[var] in ("off", "v1", "v2", "any"), "mx refuses anything else"
        assert env["MAILYARD_SMTP_PROXY_TRUSTED_NETWORKS"]
    for comp, svc in vals.items():
        if comp in SERVICES and svc.get("autoscaling", {}).get("enabled"):
            hpa = [h for h in by_kind(docs, "HorizontalPodAutoscaler")
                   if h["spec"]["scaleTargetRef"]["name"].endswith("-" + comp)]
            assert hpa, "no HPA for %s" % comp
            assert "replicas" not in deployments[comp]["spec"]


def assert_flows(policies):
    """Ingress to mx's SMTP port from anywhere; the APIs only from their
    pipeline callers and labelled clients; SMTP egress only for relay."""
    pol = {p["metadata"]["labels"]["app.kubernetes.io/component"]: p for p in policies}
    mx_in = pol["mx"]["spec"]["ingress"]
    assert any("from" not in r and any(pt["port"] == "smtp" for pt in r["ports"]) for r in mx_in)
    for comp in ("rewrite", "lists", "archive", "relay"):
        for rule in pol[comp]["spec"]["ingress"]:
            assert rule.get("from"), "%s: an ingress rule without sources" % comp
    callers = {"rewrite": "mx", "lists": "rewrite", "archive": "lists"}
    for comp, caller in callers.items():
        comps = [f.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/component")
                 for r in pol[comp]["spec"]["ingress"] for f in r["from"]]
        assert caller in comps, "%s must accept %s" % (comp, caller)
    for comp, p in pol.items():
        ports = {pt["port"] for r in p["spec"]["egress"] for pt in r.get("ports", [])}
        if comp == "relay":
            assert ports & {25, 587, 465}
        else:
            assert not ports & {25, 465}, "%s may not send SMTP" % comp
        if comp == "migrate":
            assert p["spec"]["ingress"] == []


def test_validator_rejects_bad_manifests(helm):
    """The offline validation really validates (a negative control)."""
    import kubernetes_validate
    docs = template(helm, "-f", os.path.join(CHART, "ci", "minimal-values.yaml"))
    dep = by_kind(docs, "Deployment")[0]
    dep["spec"]["template"]["spec"]["containers"][0]["securityContext"]["runAsNonRot"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(dep)
    dep = by_kind(docs, "Deployment")[0]
    dep["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(dep)


def test_schema_refuses_unknown_and_bad_values(helm):
    for bad in (["--set", "unknownKey=1"], ["--set", "mx.replica=3"],
                ["--set", "mx.clientIp.proxyProtocol.smtp=1"],
                ["--set", "mx.smtp.smtpsPolicy=open"], ["--set", "mx.rspamd.url=rspamd:11333"],
                ["--set", "mx.rspamd.rejectScore=high"], ["--set", "mx.rateLimits.ipMessages=-1"],
                ["--set", "relay.tlsrpt.bogus=1"], ["--set", "config.dmarc.replyWindowDays=0"],
                ["--set", "relay.transport=carrier-pigeon"], ["--set", "config.logLevel=loud"]):
        r = run([helm, "template", "rel", CHART, "--kube-version", KUBE_VERSION] + bad,
                check=False)
        assert r.returncode != 0, "helm accepted %s" % bad
        assert "schema" in r.stderr.lower() or "not allowed" in r.stderr.lower(), r.stderr


def test_cross_field_checks(helm):
    r = run([helm, "template", "rel", CHART, "--kube-version", KUBE_VERSION,
             "--set", "mx.clientIp.mode=proxyProtocol"], check=False)
    assert r.returncode != 0 and "trustedNetworks" in r.stderr
    r = run([helm, "template", "rel", CHART, "--kube-version", KUBE_VERSION,
             "--set", "relay.transport=smarthost"], check=False)
    assert r.returncode != 0 and "smarthost" in r.stderr
    r = run([helm, "template", "rel", CHART, "--kube-version", KUBE_VERSION,
             "--set", "config.verpDelimiters=++"], check=False)
    assert r.returncode != 0 and "verpDelimiters" in r.stderr


def test_optional_resources(helm):
    docs = template(helm, "-f", os.path.join(CHART, "ci", "production-values.yaml"))
    kinds = {d["kind"] for d in docs}
    assert {"ServiceMonitor", "Certificate", "HorizontalPodAutoscaler",
            "PodDisruptionBudget", "NetworkPolicy", "ConfigMap"} <= kinds
    cert = by_kind(docs, "Certificate")[0]
    assert cert["spec"]["secretName"] == "mailyard-mx-tls"
    docs = template(helm, "-f", os.path.join(CHART, "ci", "external-secrets-values.yaml"))
    es = {d["metadata"]["name"] for d in by_kind(docs, "ExternalSecret")}
    assert {"prod-mailyard-db", "prod-mailyard-redis", "prod-mailyard-admin",
            "prod-mailyard-srs"} <= es
    assert not by_kind(docs, "Secret"), "the chart must never render a Secret"


def mx_parts(docs):
    """(the public SMTP Service's port -> targetPort, the mx container)."""
    smtp = [s for s in by_kind(docs, "Service") if s["metadata"]["name"].endswith("-mx-smtp")][0]
    dep = [d for d in by_kind(docs, "Deployment")
           if d["metadata"]["labels"]["app.kubernetes.io/component"] == "mx"][0]
    return ({p["port"]: p["targetPort"] for p in smtp["spec"]["ports"]},
            dep["spec"]["template"]["spec"]["containers"][0])


def container_env(container):
    return {e["name"]: e.get("value") for e in container["env"]}


def component_env(docs, comp):
    dep = [d for d in by_kind(docs, "Deployment")
           if d["metadata"]["labels"]["app.kubernetes.io/component"] == comp][0]
    return container_env(dep["spec"]["template"]["spec"]["containers"][0])


def test_submission_listener_on_service_and_container(helm):
    ports, c = mx_parts(template(helm))
    cports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports[587] == "submission" and ports[25] == "smtp"
    assert cports["submission"] == 2587 and cports["smtp"] == 2525
    env = container_env(c)
    assert env["MAILYARD_SUBMISSION_LISTEN"] == "0.0.0.0:2587"
    assert 465 not in ports and "MAILYARD_SMTPS_LISTEN" not in env
    # 465 as submission (RFC 8314) on its own port; submission can be switched off.
    ports, c = mx_parts(template(helm, "--set", "mx.smtp.smtps=true",
                                 "--set", "mx.smtp.submission=false",
                                 "--set", "mx.smtp.smtpsContainerPort=3465"))
    env = container_env(c)
    cports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports[465] == "smtps" and cports["smtps"] == 3465
    assert env["MAILYARD_SMTPS_LISTEN"] == "0.0.0.0:3465"
    assert env["MAILYARD_SMTPS_POLICY"] == "submission"
    assert 587 not in ports and "submission" not in cports
    assert "MAILYARD_SUBMISSION_LISTEN" not in env


def test_submission_port_is_open_in_the_network_policy(helm):
    docs = template(helm)
    pol = [p for p in by_kind(docs, "NetworkPolicy")
           if p["metadata"]["labels"]["app.kubernetes.io/component"] == "mx"][0]
    open_ports = {pt["port"] for r in pol["spec"]["ingress"] if "from" not in r
                  for pt in r["ports"]}
    assert {"smtp", "submission"} <= open_ports


def test_relay_dnssec_trust_anchor_by_default(helm):
    env = component_env(template(helm), "relay")
    assert env["MAILYARD_DNS_TRUST_ANCHOR_FILE"] == "/usr/share/dns/root.key"
    assert env["MAILYARD_RELAY_TLSRPT"] == "on" and env["MAILYARD_RELAY_VERP"] == "off"
    for comp in ("mx", "rewrite", "lists", "archive"):
        assert "MAILYARD_DNS_TRUST_ANCHOR_FILE" not in component_env(template(helm), comp)
    env = component_env(template(helm, "--set", "relay.dnsTrustAnchorFile="), "relay")
    assert "MAILYARD_DNS_TRUST_ANCHOR_FILE" not in env


def test_relay_options_and_dkim_key_dir(helm):
    docs = template(helm, "-f", os.path.join(CHART, "ci", "production-values.yaml"))
    env = component_env(docs, "relay")
    assert env["MAILYARD_RELAY_DKIM_KEY_DIR"] == "/run/secrets/mailyard/dkim"
    assert env["MAILYARD_RELAY_TLSRPT_ORG"] == "Example Org"
    assert env["MAILYARD_RELAY_TLSRPT_FROM"] == "tlsrpt@example.org"
    assert env["MAILYARD_RELAY_DOMAIN_POLICY"].startswith("gmail.com=")
    assert env["MAILYARD_RELAY_VERP"] == "on"
    cm = by_kind(docs, "ConfigMap")[0]["data"]
    assert cm["MAILYARD_DMARC_ENCODE_DOMAIN"] == "lists.example.org"
    assert cm["MAILYARD_DMARC_REPLY_WINDOW_DAYS"] == "60"
    assert cm["MAILYARD_VERP_DELIMITERS"] == "+="
    cm = by_kind(template(helm), "ConfigMap")[0]["data"]
    assert "MAILYARD_DMARC_ENCODE_DOMAIN" not in cm


def rspamd_rules(docs):
    out = {}
    for p in by_kind(docs, "NetworkPolicy"):
        comp = p["metadata"]["labels"]["app.kubernetes.io/component"]
        out[comp] = [r for r in p["spec"]["egress"]
                     if any(pt["port"] == 11333 for pt in r.get("ports", []))]
    return out


def test_rspamd_egress_only_when_configured(helm):
    docs = template(helm)
    assert not any(rspamd_rules(docs).values()), "no rspamd egress without mx.rspamd.url"
    env = component_env(docs, "mx")
    assert "MAILYARD_MX_RSPAMD_URL" not in env
    assert env["MAILYARD_MX_RATE_IP_CONNECTIONS"] == "300"
    assert env["MAILYARD_MX_BLOCKS_REFRESH_SECONDS"] == "5"

    docs = template(helm, "--set", "mx.rspamd.url=http://rspamd.spam:11333",
                    "--set", "mx.rspamd.failOpen=false", "--set", "mx.rspamd.rejectScore=12.5")
    rules = rspamd_rules(docs)
    assert len(rules["mx"]) == 1 and "to" not in rules["mx"][0]
    assert not any(v for k, v in rules.items() if k != "mx"), "only mx talks to rspamd"
    env = component_env(docs, "mx")
    assert env["MAILYARD_MX_RSPAMD_URL"] == "http://rspamd.spam:11333"
    assert env["MAILYARD_MX_RSPAMD_FAIL_OPEN"] == "off"
    assert env["MAILYARD_MX_RSPAMD_REJECT_SCORE"] == "12.5"

    docs = template(helm, "-f", os.path.join(CHART, "ci", "production-values.yaml"))
    rule = rspamd_rules(docs)["mx"][0]
    assert rule["to"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "rspamd"}
