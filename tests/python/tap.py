# SPDX-License-Identifier: BSD-3-Clause
"""pytest plugin (-p tap): one TAP line per test, "ok N - name" or "not ok N -
name", the lines tests/run-tests.sh counts for `make check`."""

_state = {"n": 0, "outcome": {}}


def pytest_runtest_logreport(report):
    outcome = _state["outcome"]
    if report.failed:
        outcome[report.nodeid] = "not ok"
    elif report.skipped and report.when != "teardown":
        outcome.setdefault(report.nodeid, "skip")
    if report.when != "teardown":
        return
    _state["n"] += 1
    result = outcome.pop(report.nodeid, "ok")
    line = f"{'not ok' if result == 'not ok' else 'ok'} {_state['n']} - {report.nodeid}"
    if result == "skip":
        line += " # SKIP"
    _state["config"].pluginmanager.get_plugin("terminalreporter").write_line(line)


def pytest_configure(config):
    _state["config"] = config
