# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keeps a run record (fleetops.maintenance.run_record/v1) on the controller as the run goes on.

The documentation is in plugins/modules/run_record.py; the record is built by plugin_utils.run_record_builder
and kept on disk by plugin_utils.run_record_store.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.fleetops.maintenance.plugins.plugin_utils.invocation import add_invocation
from ansible_collections.fleetops.maintenance.plugins.plugin_utils import run_record as rr
from ansible_collections.fleetops.maintenance.plugins.plugin_utils import run_record_builder as build
from ansible_collections.fleetops.maintenance.plugins.plugin_utils import run_record_store as store

STEP_SPEC = {
    "target": {"type": "str", "required": True},
    "target_type": {"type": "str", "choices": list(rr.TARGET_TYPES)},
    "group": {"type": "str"},
    "result": {"type": "str"},
    "message": {"type": "str"},
    "start": {"type": "str"},
    "end": {"type": "str"},
    "details": {"type": "dict"},
    "disruption": {"type": "dict"},
}

ARGUMENT_SPEC = {
    "state": {"type": "str", "choices": ["started", "updated", "finished"], "default": "updated"},
    "path": {"type": "path"},
    "file": {"type": "path", "default": ""},
    "kind": {"type": "str"},
    "title": {"type": "str"},
    "details": {"type": "dict"},
    "step": {"type": "dict", "options": dict(STEP_SPEC, target={"type": "str"})},
    "steps": {"type": "list", "elements": "dict", "options": STEP_SPEC, "default": []},
    "phase": {"type": "dict", "options": {
        "name": {"type": "str"},
        "state": {"type": "str", "choices": ["started", "finished"], "default": "started"},
        "disruptive": {"type": "bool", "default": False},
    }},
    "progress": {"type": "dict", "options": {
        "entries": {"type": "list", "elements": "raw", "required": True},
        "key": {"type": "str", "default": ""},
        "target_type": {"type": "str", "choices": list(rr.TARGET_TYPES)},
        "group": {"type": "str", "default": ""},
        "disruptive": {"type": "list", "elements": "str", "default": []},
        "unkeyed": {"type": "str", "choices": ["step", "drop"], "default": "step"},
    }},
    "result": {"type": "str", "choices": list(build.RESULTS_FINAL)},
    "disruption": {"type": "dict"},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(
            argument_spec=ARGUMENT_SPEC,
            required_if=[("state", "started", ("kind", "title")), ("state", "updated", ("path",)),
                         ("state", "finished", ("path",))])
        problem = _misuse(args)
        if problem:
            raise AnsibleActionFail(problem)
        try:
            if args["state"] == "started":
                record = build.new_record(args["kind"], args["title"], check_mode=self._play_context.check_mode,
                                          details=args["details"], step=_step(args["step"]),
                                          disruption=args["disruption"])
                _change(record, args, {})
                build.refresh(record, record["started"])
                store.create(record, args["file"])
                phase = {}
            else:
                phase = {}
                record = store.update(args["path"], lambda rec: _change(rec, args, phase))
        except (rr.RunRecordError, store.RecordFileError) as exc:
            raise AnsibleActionFail("run_record: %s" % exc)
        if args["state"] == "finished" and record["files"].get("temporary"):
            store.remove_temporary(record)
            record["files"] = {}
        result.update(changed=False, path=args["path"] or record["files"].get("json"), files=record["files"],
                      phase=phase, record=record)
        return add_invocation(result, args, task_vars, self._templar)


def _step(spec):
    return dict((k, v) for k, v in (spec or {}).items() if v is not None) or None


def _misuse(args):
    """What the argument spec cannot say: which options go with which state."""
    if args["state"] == "started" and args["path"]:
        return "state=started begins a new record (give file, not path)"
    if args["state"] != "started" and args["file"]:
        return "file is for state=started; later calls take the path it returned"
    if args["progress"] and not (args["phase"] and args["phase"]["state"] == "finished"):
        return "progress is placed in time from the phase this call finishes: give phase with state=finished"
    if args["phase"] and args["phase"]["state"] == "started" and not args["phase"]["name"]:
        return "phase: a phase that starts needs a name"
    if args["result"] and args["state"] != "finished":
        return "result is the outcome of the whole run: give it with state=finished"
    return None


def _change(record, args, finished):
    """Apply one call's changes to the record (inside the store's lock); ``finished`` gets the phase this
    call finished (step target, name, start, end)."""
    if args["details"] and args["state"] != "started":
        record["details"].update(args["details"])
    if args["title"] and args["state"] != "started":
        record["title"] = args["title"]
    if args["disruption"] and args["state"] != "started" and args["state"] != "finished":
        record["disruption"].update(args["disruption"])
    for spec in args["steps"]:
        build.update_step(record, _step(spec))
    step_spec = _step(args["step"]) if args["state"] != "started" else None
    phase = args["phase"] or {}
    target = (step_spec or {}).get("target")
    if phase.get("state") == "finished":
        step, done = build.finish_phase(record, target, phase.get("name"))
        if done:
            finished.update(target=step["target"], name=done["name"], start=done["start"], end=done["end"])
            progress = args["progress"]
            if progress:
                build.add_progress(record, (step, done), progress["entries"], key=progress["key"] or None,
                                   target_type=progress["target_type"], group=progress["group"],
                                   disruptive=tuple(progress["disruptive"]),
                                   step=step if progress["unkeyed"] == "step" else None)
        if step_spec and not step_spec.get("target") and step is not None:
            step_spec["target"] = step["target"]
    if step_spec:
        if not step_spec.get("target"):
            step_spec["target"] = build.step_or_first(record, None)["target"]
        build.update_step(record, step_spec)
    if phase.get("state") == "started":
        build.open_phase(record, target, phase["name"], phase["disruptive"])
    if args["state"] == "finished":
        build.finish_record(record, args["result"], args["disruption"])
    else:
        build.refresh(record)
    return record
