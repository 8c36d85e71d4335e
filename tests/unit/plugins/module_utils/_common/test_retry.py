# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one retry loop: what it retries, waits out, re-logs in for, and gives up on at once."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket
import ssl

import pytest

from fake_clock import FakeClock
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.http import (
    CA_FILE,
    CERTIFICATE,
    DROPPED,
    NAME,
    REFUSED,
    ClientError,
    ConnectionProblem,
    exchange,
    http_request,
    network_problem,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.retry import (
    DONE,
    FAIL,
    RELOGIN,
    RETRY,
    WAIT,
    RetryLoop,
    network_text,
)

SETTINGS = {"address": "controller (AVI_CONTROLLER)", "ca": "ca_path (AVI_CA_PATH)",
            "verify": "validate_certs (AVI_VALIDATE_CERTS)"}


def loop(**kwargs):
    clk = FakeClock(start=0.0)
    stats = {}
    kwargs.setdefault("timeout", 300.0)
    retry = RetryLoop(stats, {RETRY: "retries", RELOGIN: "relogins", WAIT: "waits"}, clock=clk.clock,
                      sleep=clk.sleep, rand=lambda: 0.0, **kwargs)
    return retry, stats, clk


def run(retry, outcomes, classify=None):
    """Run the loop over scripted outcomes: exceptions raised, answers classified by ``classify``."""
    outcomes = list(outcomes)
    calls = []

    def attempt():
        calls.append(1)
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def network_error(problem):
        return ClientError(network_text("GET /x", problem, "https://ctl", SETTINGS))
    classify = classify or (lambda answer: (DONE, answer) if answer < 400 else (
        (RETRY if answer >= 500 else FAIL), ClientError("HTTP %s" % answer, status=answer)))
    try:
        return retry.run(attempt, classify, network_error), calls
    except ClientError as exc:
        return exc, calls


@pytest.mark.parametrize("kind,setting", [(CA_FILE, "set ca_path (AVI_CA_PATH) to a readable PEM file"),
                                          (CERTIFICATE, "could not be verified"),
                                          (NAME, "check controller (AVI_CONTROLLER)")])
def test_what_waiting_cannot_fix_fails_at_once_naming_the_setting(kind, setting):
    retry, stats, clk = loop()
    error, calls = run(retry, [ConnectionProblem("boom", kind)] * 5)
    assert isinstance(error, ClientError) and setting in error.msg
    assert len(calls) == 1 and clk.now == 0.0 and stats == {}


def test_a_refused_connection_before_any_answer_is_retried_a_few_seconds_then_names_the_address():
    retry, stats, clk = loop()
    error, calls = run(retry, [ConnectionProblem("[Errno 111] Connection refused", REFUSED)] * 50)
    assert "https://ctl refused the connection" in error.msg and "check controller (AVI_CONTROLLER)" in error.msg
    assert clk.now <= 5.0 and 1 < len(calls) < 6


def test_once_the_server_answered_refusals_drops_and_5xx_are_waited_out_and_shown():
    retry, stats, clk = loop(timeout=60.0)
    shown = []
    retry.on_wait = shown.append
    value, calls = run(retry, [200, ConnectionProblem("refused", REFUSED), ConnectionProblem("reset", DROPPED),
                               ConnectionProblem("no name", NAME), 503, 200])
    assert value == 200 and len(calls) == 1
    value, calls = run(retry, [ConnectionProblem("refused", REFUSED), ConnectionProblem("reset", DROPPED),
                               ConnectionProblem("no name", NAME), 503, 200])
    assert value == 200 and len(calls) == 5 and stats["retries"] == 4
    assert len(shown) == 4 and "refused the connection" in shown[0] and "retrying in 1 s (attempt 2)" in shown[0]


def test_retries_give_up_when_the_budget_is_spent():
    retry, stats, clk = loop(timeout=20.0)
    error, calls = run(retry, [503] * 100)
    assert "HTTP 503 (gave up after" in error.msg and clk.now == pytest.approx(20.0)


def test_relogin_is_bounded_and_wait_has_its_own_budget():
    retry, stats, clk = loop(wait_timeout=100.0, wait_interval=10.0)
    error, calls = run(retry, [401] * 10, classify=lambda answer: (RELOGIN, ClientError("HTTP 401")))
    assert error.msg == "HTTP 401" and len(calls) == 4 and stats["relogins"] == 3 and clk.now == 0.0
    error, calls = run(retry, [403] * 100, classify=lambda answer: (WAIT, ClientError("read-only")))
    assert error.msg == "read-only" and clk.now == pytest.approx(100.0) and stats["waits"] == len(calls) - 1


def test_shorter_bounds_retries_inside_only():
    retry, stats, clk = loop(timeout=300.0)
    run(retry, [200])
    with retry.shorter(5):
        error, calls = run(retry, [503] * 100)
    assert clk.now == pytest.approx(5.0)
    value, calls = run(retry, [503] * 3 + [200])
    assert value == 200


def test_network_failures_are_sorted_by_what_waiting_can_do(tmp_path):
    not_pem = tmp_path / "ca.txt"
    not_pem.write_text("not a certificate")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()   # a port nothing listens on
    for ca_path, kind in ((str(tmp_path / "missing.pem"), CA_FILE), (str(not_pem), CA_FILE), (None, REFUSED)):
        with pytest.raises(ConnectionProblem) as exc:
            exchange(http_request(ca_path=ca_path, timeout=5), "GET", "https://127.0.0.1:%d/" % port, timeout=5)
        assert exc.value.kind == kind, exc.value
    assert network_problem(socket.gaierror(-2, "Name or service not known")).kind == NAME
    assert network_problem(ssl.SSLCertVerificationError(1, "certificate verify failed")).kind == CERTIFICATE
    assert network_problem(ConnectionResetError(104, "reset")).kind == DROPPED
