"""_avi.vs_operations.Pacer: when the follower of VS operations reads the inventory again."""
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.vs_operations import Pacer


class Clock(object):
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_before_any_end_the_first_end_is_seen_at_most_a_tenth_of_its_time_late():
    clock = Clock()
    pacer = Pacer(clock, interval=2.0)
    start = clock.now
    reads = []
    while clock.now - start < 60:
        clock.now += pacer.pause([start])
        reads.append(clock.now - start)
    # an operation ending at any time T after 0.5 s is seen by T * 1.1; before, within 50 ms
    for ends_at in (0.3, 0.8, 3.0, 12.0, 19.0):
        seen = next(t for t in reads if t >= ends_at)
        assert seen - ends_at <= max(0.05, 0.1 * ends_at) + 1e-9, (ends_at, seen)
    # never more often than every 50 ms, never less often than the interval
    gaps = [b - a for a, b in zip([0.0] + reads, reads)]
    assert min(gaps) >= 0.05 - 1e-9 and max(gaps) <= 2.0 + 1e-9
    late = [t for t in reads if t > 21]
    assert all(abs(b - a - 2.0) < 1e-9 for a, b in zip(late, late[1:]))     # past 20 s: the interval, every 2 s


def test_once_an_operation_was_seen_to_end_the_next_read_is_when_the_earliest_is_due():
    clock = Clock()
    pacer = Pacer(clock, interval=30.0)
    pacer.observe(10.0)
    assert abs(pacer.pause([clock.now - 4.0]) - 5.5) < 1e-9     # 95 % of 10 s after its start
    clock.now += 5.5
    assert [round(pacer.pause([clock.now - 9.5]), 3) for _step in range(3)] == [0.2, 0.3, 0.45]   # then 2 % of it, x1.5


def test_without_a_running_operation_it_backs_off():
    clock = Clock()
    pacer = Pacer(clock, interval=2.0)
    assert [round(pacer.pause([]), 4) for _step in range(4)] == [0.05, 0.075, 0.1125, 0.1688]
