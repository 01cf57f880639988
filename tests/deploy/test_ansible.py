"""Playbook checks: --syntax-check for every playbook with every inventory,
ansible-lint with the production profile (configured in ansible/.ansible-lint),
and no secret value in the inventories."""
import glob
import os
import re

import pytest

from conftest import ROOT, run

ANSIBLE = os.path.join(ROOT, "ansible")
INVENTORIES = ("test", "prod", "ci")
PLAYBOOKS = ("k8s.yml", "docker-hosts.yml")


@pytest.mark.parametrize("inventory", INVENTORIES)
@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_syntax_check(inventory, playbook):
    if inventory == "ci" and playbook == "k8s.yml":
        pytest.skip("the CI inventory has no Kubernetes controller")
    run(["ansible-playbook", "--syntax-check", "-i", "inventories/" + inventory, playbook],
        cwd=ANSIBLE, env=dict(os.environ, ANSIBLE_NOCOLOR="1"))


def test_ansible_lint_production_profile():
    r = run(["ansible-lint", "--profile", "production", "--offline", "--nocolor"],
            cwd=ANSIBLE, check=False, timeout=600)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-6000:]
    assert "passed" in (r.stdout + r.stderr)


def test_prod_secrets_come_from_vault():
    with open(os.path.join(ANSIBLE, "inventories", "prod", "group_vars", "all", "secrets.yml")) as f:
        text = f.read()
    for var in ("mailyard_pg_dsn", "mailyard_redis_password", "mailyard_admin_token",
                "mailyard_srs_secrets"):
        block = text.split(var + ":", 1)[1].split("\nmailyard_", 1)[0]
        assert "community.hashi_vault" in block, var
        assert "FAKE" in block, "%s needs a fake placeholder for replicas" % var


def test_no_secret_material_in_repo():
    pat = re.compile(r"BEGIN [A-Z ]*PRIVATE KEY|hvs\.[A-Za-z0-9]{20,}|AKIA[0-9A-Z]{16}")
    for path in glob.glob(os.path.join(ANSIBLE, "**", "*.yml"), recursive=True) + \
            glob.glob(os.path.join(ROOT, "helm", "**", "*.yaml"), recursive=True):
        with open(path) as f:
            assert not pat.search(f.read()), path
