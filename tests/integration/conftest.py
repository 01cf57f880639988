"""Fixtures for the Mailyard integration tests.

  stack         one session-wide stack (tests seed unique names, so they share it)
  module_stack  a private stack per test module (for tests that kill services);
                a module may define STACK_CONFIG = {...} (StackConfig options)
  stack_factory builds extra stacks inside one test; closed after the test

A sanitizer report (ASan, LSan, UBSan) in a service log fails the test
(or, for leaks reported at exit, the stack's teardown).

When a test fails, the service log lines written during that test are
attached to the report (pytest prints them under "Captured ... mailyard").
"""
import pytest

from harness import Stack, StackConfig

_ACTIVE = []


def _new_stack(name, **cfg):
    s = Stack(StackConfig(**cfg), name=name)
    _ACTIVE.append(s)
    try:
        s.start_all()
    except BaseException:
        s.close()
        _ACTIVE.remove(s)
        raise
    s.mark_logs()
    return s


def _close(s):
    s.close()
    if s in _ACTIVE:
        _ACTIVE.remove(s)
    if s.sanitizer_findings:
        pytest.fail("sanitizer reports in the %s stack's service logs:\n%s"
                    % (s.name, "\n".join(s.sanitizer_findings[:40])), pytrace=False)


@pytest.fixture(scope="session")
def stack():
    s = _new_stack("session")
    yield s
    _close(s)


@pytest.fixture(scope="module")
def module_stack(request):
    cfg = getattr(request.module, "STACK_CONFIG", {})
    s = _new_stack(request.module.__name__.rsplit(".", 1)[-1], **cfg)
    yield s
    _close(s)


@pytest.fixture
def stack_factory():
    made = []

    def make(**cfg):
        s = _new_stack("factory", **cfg)
        made.append(s)
        return s
    yield make
    for s in made:
        _close(s)


@pytest.fixture(autouse=True)
def _mark_logs():
    """Marks the logs before each test; after it, fails the test if a
    sanitizer (ASan/UBSan build, MAILYARD_BUILD_DIR) reported anything."""
    for s in list(_ACTIVE):
        s.mark_logs()
    yield
    found = []
    for s in list(_ACTIVE):
        found += s.sanitizer_reports()
    if found:
        pytest.fail("sanitizer reports in the service logs:\n" + "\n".join(found[:40]),
                    pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and call.when in ("setup", "call"):
        for s in list(_ACTIVE):
            for svc, text in s.logs_since_mark().items():
                if text.strip():
                    rep.sections.append(("mailyard %s: %s.log" % (s.name, svc), text))
