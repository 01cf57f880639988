"""mailyardctl alias import: a Postfix virtual file (comments, continuation
lines, virtual alias domains, catch-alls) through POST /v1/aliases:import,
with --dry-run, idempotent re-import, updates and per-line errors."""
import os
import tempfile

from harness import unique


def write(text):
    fd, path = tempfile.mkstemp(suffix=".virtual")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def counts(out):
    line = [l for l in out.splitlines() if "created=" in l][0]
    return dict(kv.split("=") for kv in line.replace("(dry run) ", "").split())


def test_import_virtual_file(stack):
    d = "%s.test" % unique("virt")
    rw = stack.api("rewrite")
    text = ("# imported from postfix\n"
            "%(d)s   anything\n"
            "team@%(d)s   a@remote.test, b@remote.test\n"
            "multi@%(d)s  a@remote.test,\n"
            "      c@remote.test\n"
            "\td@remote.test\n"
            "@%(d)s  catch@remote.test\n" % {"d": d})
    path = write(text)
    try:
        r = stack.ctl("alias", "import", path, "--dry-run")
        c = counts(r.stdout)
        assert c["created"] == "3" and c["domains_created"] == "1", r.stdout
        assert rw.get("/v1/aliases/team@" + d).status_code == 404, "dry run wrote"
        r = stack.ctl("alias", "import", path)
        c = counts(r.stdout)
        assert (c["created"], c["updated"], c["unchanged"]) == ("3", "0", "0"), r.stdout
        got = rw.get("/v1/aliases/multi@" + d).json()
        assert got["targets"] == ["a@remote.test", "c@remote.test", "d@remote.test"]
        assert rw.get("/v1/aliases/@" + d).json()["targets"] == ["catch@remote.test"]
        # idempotent
        c = counts(stack.ctl("alias", "import", path).stdout)
        assert (c["created"], c["updated"], c["unchanged"]) == ("0", "0", "3")
        # one change, one bad target, two parse errors (a local-only key, a
        # duplicate key), an unknown domain: exit 1 with line numbers
        with open(path, "w") as f:
            f.write(text.replace("a@remote.test, b@remote.test", "z@remote.test"))
            f.write("bad@%s  not-an-address\n" % d)          # line 8
            f.write("localonly   x@remote.test\n")             # line 9
            f.write("other@unknown-domain.test  x@remote.test\n")  # line 10
            f.write("TEAM@%s  y@remote.test\n" % d)           # line 11
        r = stack.ctl("alias", "import", path, check=False)
        assert r.returncode == 1, r.stdout + r.stderr
        c = counts(r.stdout)
        assert c["updated"] == "1" and c["unchanged"] == "2", r.stdout
        assert "line 8:" in r.stdout and "line 10:" in r.stdout, r.stdout
        assert ":9:" in r.stderr and ":11:" in r.stderr, r.stderr
        assert rw.get("/v1/aliases/team@" + d).json()["targets"] == ["z@remote.test"]
    finally:
        os.unlink(path)


def test_import_api_validation(stack):
    rw = stack.api("rewrite")
    assert rw.post("/v1/aliases:import", json={"entries": "x"}).status_code == 400
    assert rw.post("/v1/aliases:import", json={"nope": []}).status_code == 400
    r = rw.post("/v1/aliases:import", json={"entries": [{"line": 1}, 5]})
    assert r.status_code == 200 and len(r.json()["errors"]) == 2, r.text
