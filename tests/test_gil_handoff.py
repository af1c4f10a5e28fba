"""gil_handoff: the interpreter's switch interval, shortened while holds are open."""

from __future__ import annotations

import sys
import threading

import pytest

from gaussmix.gil_handoff import SWITCH_INTERVAL, short_switch_interval


@pytest.fixture
def default_interval():
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    yield 0.005
    sys.setswitchinterval(before)


def test_a_hold_shortens_the_interval_and_restores_it(default_interval):
    with short_switch_interval():
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL)
        with short_switch_interval(1e-3):  # nested: the first hold's setting stays
            assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL)
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL)
    assert sys.getswitchinterval() == pytest.approx(default_interval)


def test_a_shorter_interval_of_the_program_is_kept(default_interval):
    sys.setswitchinterval(2e-5)
    with short_switch_interval():
        assert sys.getswitchinterval() == pytest.approx(2e-5)
    assert sys.getswitchinterval() == pytest.approx(2e-5)


def test_the_last_hold_to_leave_restores_whatever_thread_it_is_in(default_interval):
    entered, leave_first = threading.Event(), threading.Event()
    seen = []

    def other_hold():
        with short_switch_interval():
            entered.set()
            leave_first.wait(timeout=30)
        seen.append(sys.getswitchinterval())

    worker = threading.Thread(target=other_hold)
    with short_switch_interval():
        worker.start()
        assert entered.wait(timeout=30)
        leave_first.set()  # the worker's hold ends while this one is open
        worker.join(timeout=30)
        assert not worker.is_alive()
        assert seen == [pytest.approx(SWITCH_INTERVAL)]
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL)
    assert sys.getswitchinterval() == pytest.approx(default_interval)
