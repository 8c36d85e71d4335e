"""The intent record on a controller (a StringGroup, plugins/module_utils/_avi/intent.py), against the lab:
the installed collection's own client and store, as a module uses them."""
import os
import sys

import pytest
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                ".collections"))
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.client import AviClient  # noqa: E402
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.intent import StringGroupStore  # noqa: E402
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.intent import (  # noqa: E402
    IntentError,
    IntentRecord,
)


def client(lab):
    with open(lab.topology) as stream:
        ctl = yaml.safe_load(stream)["controller"]
    return AviClient(lab.url.split("://", 1)[1], ctl["username"], ctl["password"], api_version="22.1.3",
                     ca_path=lab.ca)


def test_the_record_lives_on_the_controller_and_one_run_owns_the_target(lab):
    api = lab.client()
    one = IntentRecord(StringGroupStore(client(lab), "se-evacuate-se-a"), run_id="run-1", lease_seconds=600)
    assert one.claim() == {}
    one.remember("se/serviceengine-1", {"was": "SE_STATE_ENABLED"})
    # what the operator (or another machine's run) sees: a StringGroup of key/value pairs
    groups = api.get("stringgroup", name="fleetops-maintenance-se-evacuate-se-a").json()["results"]
    assert len(groups) == 1 and groups[0]["type"] == "SG_TYPE_KEYVAL"
    assert {kv["key"] for kv in groups[0]["kv"]} == {"owner", "se/serviceengine-1"}
    # a second run from elsewhere reads the same intent, and cannot act while the first holds the target
    two = IntentRecord(StringGroupStore(client(lab), "se-evacuate-se-a"), run_id="run-2",
                       sleep=lambda s: None)
    assert two.entries() == {"se/serviceengine-1": {"was": "SE_STATE_ENABLED"}}
    with pytest.raises(IntentError) as err:
        two.claim(wait_seconds=0)
    assert "held by run run-1" in str(err.value) and "fleetops-maintenance-se-evacuate-se-a" in str(err.value)
    # the first run undoes its change and leaves: nothing is left on the controller
    one.forget("se/serviceengine-1")
    one.release()
    assert api.get("stringgroup", name="fleetops-maintenance-se-evacuate-se-a").json()["count"] == 0
    assert two.claim() == {}
    two.release()


def test_records_of_different_targets_do_not_touch_each_other(lab):
    a = IntentRecord(StringGroupStore(client(lab), "upgrade"), run_id="run-a")
    b = IntentRecord(StringGroupStore(client(lab), "se-evacuate-se-b"), run_id="run-b")
    a.claim()
    b.claim()
    a.remember("vs/virtualservice-1/0", {"scaled_out_to": "serviceengine-2"})
    b.remember("se/serviceengine-3", {"was": "SE_STATE_DISABLED_FOR_PLACEMENT"})
    assert a.entries() == {"vs/virtualservice-1/0": {"scaled_out_to": "serviceengine-2"}}
    assert b.entries() == {"se/serviceengine-3": {"was": "SE_STATE_DISABLED_FOR_PLACEMENT"}}
    a.release()
    b.release()
    names = sorted(g["name"] for g in lab.client().get("stringgroup").json()["results"])
    assert names == ["fleetops-maintenance-se-evacuate-se-b", "fleetops-maintenance-upgrade"]
