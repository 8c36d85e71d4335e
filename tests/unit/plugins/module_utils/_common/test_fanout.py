"""_common.fanout: reads side by side, answers in order, and no error before every read has ended."""
import threading
import time

import pytest

from ansible_collections.fleetops.maintenance.plugins.module_utils._common.fanout import fan_out


def test_answers_come_in_the_items_order_and_every_worker_takes_items():
    seen = {}
    lock = threading.Lock()

    def call(worker, item):
        time.sleep(0.01 * (5 - item))   # the first items end last
        with lock:
            seen.setdefault(worker, []).append(item)
        return item * 10

    assert fan_out([0, 1, 2, 3, 4], ["a", "b", "c"], call) == [0, 10, 20, 30, 40]
    assert sorted(i for items in seen.values() for i in items) == [0, 1, 2, 3, 4] and len(seen) == 3


def test_the_first_error_in_order_is_raised_after_every_call_ended():
    ended = []

    def call(worker, item):
        if item in (1, 3):
            raise ValueError("item %d failed" % item)
        time.sleep(0.05)
        ended.append(item)
        return item

    with pytest.raises(ValueError, match="item 1 failed"):
        fan_out([0, 1, 2, 3, 4], ["a", "b"], call)
    assert sorted(ended) == [0, 2, 4]
