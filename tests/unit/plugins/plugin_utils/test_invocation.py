"""plugin_utils.invocation: check_inputs and run_record give ``invocation`` as modules do when INJECT_INVOCATION is
on (the option coverage stage reads it from the job events), and only then."""
from ansible_collections.fleetops.maintenance.plugins.plugin_utils import invocation


class _Config:
    def __init__(self, value=None, missing=False):
        self.value, self.missing = value, missing

    def get_config_value(self, name, variables=None, templar=None):
        assert name == "INJECT_INVOCATION"
        if self.missing:
            raise KeyError(name)  # an ansible-core before 2.21 has no such setting
        return variables.get("ansible_inject_invocation", self.value)


def test_added_when_the_setting_is_on(monkeypatch):
    monkeypatch.setattr(invocation.C, "config", _Config(True))
    assert invocation.add_invocation({"changed": False}, {"state": "started"}, {}, None) == {
        "changed": False, "invocation": {"module_args": {"state": "started"}}}


def test_left_out_when_off_or_unknown(monkeypatch):
    monkeypatch.setattr(invocation.C, "config", _Config(False))
    assert invocation.add_invocation({"changed": False}, {"a": 1}, {}, None) == {"changed": False}
    assert invocation.add_invocation({}, {"a": 1}, {"ansible_inject_invocation": True}, None) == {
        "invocation": {"module_args": {"a": 1}}}
    monkeypatch.setattr(invocation.C, "config", _Config(missing=True))
    assert invocation.add_invocation({}, {"a": 1}, {}, None) == {}
