"""Static checks that need no engine: the Dockerfiles are generated from
their template and have the required shape; the values reference in
docs/deploy.md is current."""
import os
import re

import pytest

from conftest import ROOT, run

COMPONENTS = ("mx", "rewrite", "lists", "archive", "relay", "mailyardctl")


def test_dockerfiles_are_generated():
    run(["bash", os.path.join(ROOT, "deploy", "images", "generate.sh"), "--check"])


@pytest.mark.parametrize("comp", COMPONENTS)
def test_dockerfile_shape(comp):
    with open(os.path.join(ROOT, "deploy", "images", comp + ".Dockerfile")) as f:
        text = f.read()
    assert text.splitlines()[0].startswith("#")
    assert re.search(r"^ARG BASE_IMAGE=debian:bookworm-slim$", text, re.M)
    assert len(re.findall(r"^FROM ", text, re.M)) >= 2, "multi-stage"
    assert re.search(r"^USER 10001:10001$", text, re.M), "numeric non-root user"
    m = re.search(r"^ENTRYPOINT (.*)$", text, re.M)
    assert m and m.group(1).startswith('["'), "exec-form ENTRYPOINT"
    assert re.search(r"^VOLUME .*\"/tmp\"", text, re.M)
    for label in ("source", "revision", "version", "licenses"):
        assert "org.opencontainers.image.%s=" % label in text
    runtime = text.split("AS runtime", 1)[1].split("\nFROM runtime", 1)[0]
    assert not re.search(r"lib\S*-dev\b", runtime), "no -dev packages at run time"


def test_values_reference_is_current():
    run(["python3", os.path.join(ROOT, "deploy", "values-reference.py"), "--check"])
