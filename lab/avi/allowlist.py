"""Where an answer of the Avi plane may differ from its vendor definition (lab/avi/definitions.py),
and why. tests/lab/test_lab_vendor_shapes.py fails on any other difference, and on an entry here
that no answer needs any more.

``ALLOWLIST``: the real controller answers the same; each entry cites the vendor source that shows it.

``PENDING_SHIPPED_READS``: lab-only state the shipped collection still reads (the file that reads it is
named). The lab keeps serving these until that code reads vendor fields instead (issue 11); the lab's
tests and benchmarks read the same facts from the ``/_lab/`` admin routes already.
"""


class Entry:
    """A difference the check lets pass: ``definition.field`` (``field`` "*": any field of it; a
    ``route`` instead: the whole route), problem ``kinds``, for API ``versions`` (branches; None: all)."""

    def __init__(self, definition, field, kinds, why, versions=None, route=None):
        self.definition, self.field, self.kinds, self.why = definition, field, set(kinds), why
        self.versions, self.route = versions, route

    def covers(self, problem, branch):
        return (self.definition in ("*", problem.definition) and self.field in ("*", problem.field)
                and problem.kind in self.kinds and (self.versions is None or branch in self.versions))

    def __repr__(self):
        return f"{self.route or self.definition + '.' + self.field} ({', '.join(sorted(self.kinds))})"


ALLOWLIST = [
    Entry("*", "_last_modified", {"unknown_field"},
          "every configuration object carries the read-only _last_modified, which the 17.2 Swagger files leave out "
          "(the 20.1 and later ones define it): vmware/alb-sdk 17.2.18 go/examples/web_service.py, the answers of a "
          "17.2.8 controller, shows it on system_config and tenants", versions=("17.2.18",)),
]

PENDING_SHIPPED_READS = [
]


def excuse(problem, branch):
    """The entry that lets ``problem`` pass for API ``branch``, or None."""
    for entry in ALLOWLIST + PENDING_SHIPPED_READS:
        if entry.route is None and entry.covers(problem, branch):
            return entry
    return None
