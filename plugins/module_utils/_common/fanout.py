# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

Reads that may run side by side (each on its own connection): one thread per worker, each taking the next item as
it becomes free.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading


def fan_out(items, workers, call):
    """``call(worker, item)`` for every item, each of ``workers`` (one thread each) taking the next item as it is
    free; the answers in ``items``' order. A call that fails raises its error (the first in ``items``' order) once
    every call has ended, so no thread is left running behind the error."""
    answers, errors = [None] * len(items), [None] * len(items)
    todo = list(range(len(items)))
    lock = threading.Lock()

    def worker_loop(worker):
        while True:
            with lock:
                if not todo:
                    return
                index = todo.pop(0)
            try:
                answers[index] = call(worker, items[index])
            except Exception as exc:  # pylint: disable=broad-except
                errors[index] = exc

    threads = [threading.Thread(target=worker_loop, args=(w,), name="fan-out-%d" % n) for n, w in enumerate(workers)]
    for t in threads:
        t.daemon = True
        t.start()
    for t in threads:
        t.join()
    for exc in errors:
        if exc is not None:
            raise exc
    return answers
