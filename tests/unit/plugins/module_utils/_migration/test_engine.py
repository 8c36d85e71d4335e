# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The migration engine is vendor-neutral: the abstract provider has no vendor's defaults, one registry
lists the providers, each owns its options, and a run takes exactly the steps its check-mode plan showed.

``Toy`` below is not a vendor's emulation: a two-step provider (prepare, then move) written against the
provider interface only, to show what the engine does with any provider. The vendors' own behaviour is
tested through their providers (test_instance_migrate_triton.py, test_instance_migrate_virtfusion.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.fleetops.maintenance.plugins.module_utils._common.progress import Progress
from ansible_collections.fleetops.maintenance.plugins.module_utils._migration.checks import PASS, UNKNOWN, check
from ansible_collections.fleetops.maintenance.plugins.module_utils._migration.engine import converge
from ansible_collections.fleetops.maintenance.plugins.module_utils._migration.module import (
    argument_spec,
    foreign_options,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._migration.provider import (
    DONE,
    Migration,
    MigrationProvider,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._migration.registry import PROVIDERS
from ansible_collections.fleetops.maintenance.plugins.modules import instance_migrate


class Toy(MigrationProvider):
    name = "toy"
    states = ("moved",)
    start_actions = ("prepare",)

    def __init__(self, params):
        super(Toy, self).__init__(params)
        self.inst = {"id": "i-1", "name": "vm-1", "server": "a", "server_name": "a"}
        self.rec = None
        self.started = []

    def api_stats(self):
        return {}

    def resolve(self, key):
        return dict(self.inst)

    def resolve_server(self, value):
        return value, value

    def record(self, inst):
        return self.rec

    def start(self, inst, action, target_server=None):
        self.started.append(action)
        self.rec = self.simulate(self.rec, action, inst, target_server)
        if action == "move":
            self.inst["server"] = "b"

    def wait(self, inst, on_event, timeout):
        return {"phase": self.rec.phase, "state": self.rec.state}

    def next_action(self, want, rec, inst, opts, memo):
        if inst["server"] == "b" or (rec is not None and rec.phase == "move"):
            return DONE
        return "prepare" if rec is None else "move"

    def waits_for(self, action):
        return True

    def reached(self, rec, inst, opts):
        return "moved" if inst["server"] == "b" else "not_moved"

    def simulate(self, rec, action, inst, target):
        return Migration(action, "successful", target_server=target)

    def precheck(self, instances, opts):
        return [{"id": i["id"], "name": i["name"], "target": None, "target_name": None, "predicted": False,
                 "reason": None, "checks": [check("room", self.room, "the toy's own rule")]} for i in instances]

    room = PASS


def test_the_abstract_provider_has_no_vendor_defaults():
    provider = MigrationProvider({})
    assert provider.states == () and provider.start_actions == () and provider.name is None
    for hook, args in (("next_action", ("migrated", None, {}, {}, {})), ("reached", (None, {}, {})),
                       ("simulate", (None, "begin", {}, None)), ("waits_for", ("begin",)),
                       ("running_action", ("migrated", None, {}, {})), ("needs_start", ({}, None, {})),
                       ("cleanup_failed", ("x", None)), ("precheck", ([], {})), ("scope_of", ({}, {})),
                       ("intent_store", ("a", {})), ("cordon_state", ("a",)), ("set_cordon", ("a", True)),
                       ("verify_evacuation", ("a", [], {}))):
        with pytest.raises(NotImplementedError):
            getattr(provider, hook)(*args)


def test_a_run_takes_the_steps_its_check_mode_plan_showed():
    planned = converge(Toy({}), "vm-1", {"state": "moved", "timeout": 10}, Progress("t", path=""), True)
    toy = Toy({})
    ran = converge(toy, "vm-1", {"state": "moved", "timeout": 10}, Progress("t", path=""), False)
    assert planned["phases"] == ran["phases"] == toy.started == ["prepare", "move"]
    assert planned["plan"]["target_server"] is None and ran["reached"] == "moved"


def test_an_unknown_pre_check_blocks_a_start_like_a_failed_one_unless_accepted():
    toy = Toy({})
    toy.room = UNKNOWN
    with pytest.raises(Exception) as err:
        converge(toy, "vm-1", {"state": "moved", "timeout": 10}, Progress("t", path=""), False)
    assert "vm-1: not migrating: pre-checks: room unverified: the toy's own rule (accept it with accept_unverified: " \
           "[room])" in str(err.value) and toy.started == []
    plan = converge(Toy({}), "vm-1", {"state": "moved", "timeout": 10, "accept_unverified": ["room"]},
                    Progress("t", path=""), True)["plan"]
    assert plan["prechecks"][0]["result"] == "pass"
    toy = Toy({})
    toy.room = UNKNOWN
    ran = converge(toy, "vm-1", {"state": "moved", "timeout": 10, "accept_unverified": ["room"]},
                   Progress("t", path=""), False)
    assert ran["prechecks"][0]["result"] == "accepted" and toy.started == ["prepare", "move"]


def test_one_registry_and_each_provider_owns_its_options():
    assert sorted(PROVIDERS) == ["triton", "virtfusion"]
    triton, virtfusion = (set(PROVIDERS[n].argument_spec()) for n in ("triton", "virtfusion"))
    assert not triton & virtfusion, "an option belongs to one provider"
    spec = argument_spec(PROVIDERS, "triton")
    assert spec["state"]["choices"] == ["begun", "synced", "switched", "migrated", "finalized", "rolled_back",
                                        "aborted", "paused", "cancelled"]
    assert triton | virtfusion <= set(spec)
    # what the module documents is what it accepts (spec assembly from the registry)
    import yaml
    documented = set(yaml.safe_load(instance_migrate.DOCUMENTATION)["options"])
    assert documented <= set(spec)


def test_options_given_to_the_wrong_provider_name_both():
    params = dict((k, v.get("default")) for k, v in argument_spec(PROVIDERS, "triton").items())
    assert foreign_options(dict(params, provider="virtfusion"), PROVIDERS, "virtfusion") == []
    params.update(key_id="aa:bb", vmapi_url="http://vmapi", virtfusion_credentials={"host": "cp"})
    assert foreign_options(params, PROVIDERS, "virtfusion") == [
        "key_id, vmapi_url are an option of provider=triton, not of provider=virtfusion: drop them or set "
        "provider=triton"]
