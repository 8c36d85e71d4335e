# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

What the migration engine (``_migration.engine``) asks of a provider, and the shapes they share.

A provider (``_triton.provider``, ``_virtfusion.provider``) owns everything about its vendor: its
option spec (:meth:`MigrationProvider.argument_spec`), its connection, its migration record and its
state machine (:meth:`MigrationProvider.next_action` and the hooks below). The engine owns what is
the same for every vendor: converging one instance with one decision for a run and its check-mode
plan, following progress, the sliding window of several instances, the result shape. Nothing here
is any vendor's default: a provider that does not implement a hook it needs fails loudly.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DONE = "done"
# the event a provider's ``wait`` may send (``on_event({"type": VENDOR_DONE})``) as soon as the vendor reports the
# migration complete and nothing is left to ask of the vendor for it but reads: a sliding window lets the next one
# start then (see ``window.run_window``)
VENDOR_DONE = "vendor_done"
# and as soon as it shows the migration failing (before the reads that follow a failure): a window with
# on_failure=stop starts no other migration from then on
VENDOR_FAILED = "vendor_failed"


class MigrationError(Exception):
    """A migration request failed; ``reason`` is the vendor's message when there is one."""

    def __init__(self, msg, reason=None, status=None, code=None):
        super(MigrationError, self).__init__(msg)
        self.msg = msg
        self.reason = reason or msg
        self.status = status
        self.code = code


class Migration(object):
    """A provider's migration record, normalized: ``phase`` (the step it is at), ``state`` (running,
    successful, failed, or a state of the provider's own), ``syncs``, ``error``, the servers, the
    vendor's document (``raw``) and provider fields shown in ``view()`` (``extra``)."""

    def __init__(self, phase, state, automatic=False, syncs=0, error=None, source_server=None,
                 target_server=None, raw=None, extra=None):
        self.phase = phase
        self.state = state
        self.automatic = bool(automatic)
        self.syncs = int(syncs or 0)
        self.error = error
        self.source_server = source_server
        self.target_server = target_server
        self.raw = raw or {}
        self.extra = extra  # provider-specific fields added to view()

    def key(self):
        return (self.phase, self.state, self.syncs, len(self.raw.get("progress_history") or []))

    def view(self):
        out = {"phase": self.phase, "state": self.state, "automatic": self.automatic, "syncs": self.syncs,
               "error": self.error, "source_server": self.source_server, "target_server": self.target_server}
        if self.extra:
            out.update(self.extra)
        return out


class MigrationProvider(object):
    """The interface of a provider. Methods that raise NotImplementedError are the provider's to write;
    the few that return something are neutral (they say "not known" or "nothing to do"), never a vendor's
    behaviour."""

    #: the provider's name (the module's ``provider`` option)
    name = None
    #: its connection dict option, which ``module_defaults`` of its action group may give to any task
    credentials_option = None
    #: the states (the module's ``state``) this provider can reach
    states = ()
    #: the actions that start a migration: they get the target plan and the capacity / pre-check
    start_actions = ()
    #: actions whose request stops the instance (downtime counted from the request when no event marks it)
    downtime_actions = ()
    #: the progress message that marks the instance stopping, and the phase whose successful end restarts it
    downtime_start_message = None
    downtime_end_phase = None
    #: phases whose progress events carry the bytes a data copy sent (``transfer_bytes_second``)
    transfer_phases = ()
    #: the names of this provider's pre-checks (what ``accept_unverified`` may name)
    check_names = ()
    #: what an instance is called in messages about several ("instance(s)", "server(s)")
    noun = "instance(s)"
    #: the last placement the provider chose itself ({"placement", "headroom"}), shown by check mode
    placement_report = None

    def __init__(self, params):
        self.params = params

    # -- the module's options ---------------------------------------------------------------------
    @classmethod
    def argument_spec(cls):
        """The options only this provider takes (a fresh dict)."""
        raise NotImplementedError

    @classmethod
    def check_params(cls, params):
        """Messages for options that do not fit together for this provider (before anything is read)."""
        return []

    # -- connection ---------------------------------------------------------------------------------
    def fork(self):
        """A provider for another worker thread (its own connection), same settings."""
        raise NotImplementedError

    def ready(self):
        """Open what the first request that changes something will need (a connection) while the worker waits for
        its window slot, so the request goes out as soon as the slot is free. Best effort: a failure here is
        left for that request to meet and report. Nothing to open by default (HTTP opens per request)."""
        return None

    def retire(self):
        """A fork's worker has ended: keep what it opened (a connection) for the next worker. Nothing by default."""
        return None

    def api_stats(self):
        """Counters of this provider's API calls."""
        raise NotImplementedError

    def on_wait(self, callback):
        """Show the waits of the provider's connections (a server restarting) through ``callback(text)``."""
        raise NotImplementedError

    # -- instances and compute nodes ------------------------------------------------------------
    def resolve(self, key):
        """The instance named or with id ``key``: dict with id, name, server, server_name, state, ram,
        disk. Raises MigrationError naming the closest instances when there is none."""
        raise NotImplementedError

    def resolve_server(self, value):
        """(id, name) of a compute node given by name or id; MigrationError when there is none."""
        raise NotImplementedError

    def instances_on(self, server):
        """Instances on a compute node (for evacuations)."""
        raise NotImplementedError

    def everyone(self):
        """Every instance the connection sees, [{"id", "name", "server", "tags"?}] (budgets: group members and
        where they run, for anti-affinity)."""
        raise NotImplementedError

    # -- migrations -----------------------------------------------------------------------------
    def record(self, inst):
        """The instance's current :class:`Migration`, or None."""
        raise NotImplementedError

    def start(self, inst, action, target_server=None):
        """Ask for ``action``; raise MigrationError with the vendor's reason when refused."""
        raise NotImplementedError

    def went_through(self, exc, before, again):
        """Whether a request refused with ``exc`` had in fact gone through (a retry of a request whose answer was
        lost): ``before`` is the record's key before it, ``again`` the record now."""
        return False

    def wait(self, inst, on_event, timeout):
        """Follow the running action until it ends; return {"phase", "state", "message"} (and the provider's
        own measurements: ``measured``, ``bytes``, ``downtime_seconds``). Progress goes to ``on_event(event)``;
        ``{"type": VENDOR_DONE}`` says the vendor reported the whole migration complete before the confirming
        reads (optional: without it a window's slot is held until the instance's result is known)."""
        raise NotImplementedError

    def estimate(self, inst):
        """Bytes the first copy would send, or None (not known)."""
        return None

    def unsupported(self, action, target_server=None):
        """None, or why this provider (as configured) cannot do ``action``."""
        return None

    def failed_phase(self, rec, end, action):
        """The phase that failed, after ``action`` was followed to ``end`` and the record read again (``rec``)."""
        return end.get("phase") or action

    def next_steps(self, phase):
        """What the operator can run after ``phase`` failed (the module's ``state`` values), or ''."""
        return ""

    def precheck(self, instances, opts):
        """The pre-checks of starting a migration of each of ``instances`` (read-only; capacity taken as they are
        placed, in order): one entry per instance, {"id", "name", "target", "target_name", "predicted" (whether
        the target is this module's prediction rather than the vendor's or the operator's choice), "reason",
        "checks": [``_migration.checks.check(...)``, ...]}. Every check answers pass, fail or unknown (see
        ``_migration.checks``); ``opts`` holds ``target_server``, ``capacity_check`` and ``source_server``."""
        raise NotImplementedError

    def cleanup_failed(self, key, progress):
        """Failure policy ``failed_action=abort``: discard a failed migration; returns what was done."""
        raise NotImplementedError

    # -- one owner per compute node, intent, verification ---------------------------------------------
    def scope_of(self, inst, opts):
        """The compute node whose lease a run on ``inst`` holds (where it runs, or its migration's source)."""
        raise NotImplementedError

    def intent_store(self, scope, params):
        """The ``_common.intent.Store`` of compute node ``scope`` (its lease and intent record)."""
        raise NotImplementedError

    def cordon_state(self, server):
        """Whether compute node ``server`` takes no new instances now (the value a cordon replaces)."""
        raise NotImplementedError

    def set_cordon(self, server, value):
        """Let compute node ``server`` take new instances (False) or not (True)."""
        raise NotImplementedError

    def verify_evacuation(self, source, expected, opts):
        """What differs from an evacuation's promise (``expected``: [{"id", "name", "state"}] it moved off
        ``source``): a list of messages, empty when verified."""
        raise NotImplementedError

    # -- the provider's state machine -------------------------------------------------------------
    def next_action(self, want, rec, inst, opts, memo):
        """What to do next to reach ``want`` when no action is running: an action, DONE, or ("fail", reason).
        ``memo`` is this run's notes for the instance (see :meth:`note`)."""
        raise NotImplementedError

    def running_action(self, want, rec, inst, opts):
        """With a running record: an action to take now, ("fail", reason), or None to wait for it."""
        raise NotImplementedError

    def note(self, action, rec, memo):
        """Remember in ``memo`` what taking ``action`` on record ``rec`` means for the next decision."""

    def waits_for(self, action):
        """Whether ``action`` runs on (and is followed with :meth:`wait`) after it was requested."""
        raise NotImplementedError

    def reached(self, rec, inst, opts):
        """A name for where the instance stands."""
        raise NotImplementedError

    def simulate(self, rec, action, inst, target):
        """The record ``action`` would leave (check mode planning)."""
        raise NotImplementedError

    def needs_start(self, inst, rec, opts):
        """Whether a migration of ``inst`` would be started (it gets the capacity / pre-check)."""
        raise NotImplementedError
