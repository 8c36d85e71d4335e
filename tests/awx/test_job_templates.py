"""The AWX / Automation Platform definitions (extensions/awx) against the playbooks they launch.

No controller runs here, so the definitions are checked against what the playbooks really read: the
variables of every Jinja expression in a playbook and its vars files (parsed with Jinja's own
parser), the defaults and conversions applied to them, the choices of the playbooks' input checks,
and the argument specs of the roles the playbooks map them to.
"""
import glob
import os
import re

import jinja2
import jinja2.meta
import jinja2.nodes
import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AWX = os.path.join(ROOT, "extensions", "awx", "config")
# Credential types whose names are not read by a playbook of this branch yet (the VirtFusion
# provider is written elsewhere); the test reports them instead of checking them.
PROVISIONAL_TYPES = {"fleetops VirtFusion SSH key"}
# What Ansible defines itself, and names the playbooks define (register, loop vars, vars files)
MAGIC = {"ansible_check_mode", "hostvars", "groups", "inventory_hostname", "omit", "lookup", "query", "now",
         "ansible_playbook_python", "ansible_failed_result", "ansible_failed_task", "item", "true", "false",
         "none", "True", "False", "None", "range", "dict", "lipsum", "undef", "ansible_python_interpreter"}
SURVEY_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}
SECRET_ID = re.compile(r"password|private_key|secret|token", re.I)


class Loader(yaml.SafeLoader):
    """YAML as Ansible reads it: `!unsafe` marks a string Ansible must not template."""


Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def load(path):
    with open(path) as stream:
        return yaml.load(stream, Loader=Loader)  # noqa: S506 - a SafeLoader subclass


@pytest.fixture(scope="module")
def config():
    merged = {}
    for path in sorted(glob.glob(os.path.join(AWX, "*.yml"))):
        merged.update(load(path))
    return merged


PLAYBOOKS = sorted(os.path.basename(p)[:-4] for p in glob.glob(os.path.join(ROOT, "playbooks", "*.yml")))


class _Anything(dict):
    """Every filter and test name exists: Ansible's filters are not Jinja's, and only names matter here."""

    def __contains__(self, key):
        return True

    def get(self, key, default=None):
        return super().get(key) or (lambda *args, **kwargs: None)


ENV = jinja2.Environment()
ENV.filters = _Anything(ENV.filters)
ENV.tests = _Anything(ENV.tests)
CONDITIONAL_KEYS = {"when", "that", "until", "changed_when", "failed_when", "loop", "with_items"}


def expressions(node, key=None):
    """Every Jinja template in a YAML tree: strings with {{ or {%, and the bare conditionals."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from expressions(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from expressions(v, key)
    elif isinstance(node, str):
        if "{{" in node or "{%" in node:
            yield node
        elif key in CONDITIONAL_KEYS:
            yield "{{ %s }}" % node
    elif isinstance(node, bool) or node is None:
        return


def defined_names(node):
    """Names a play defines: register, set_fact keys, vars, loop_var."""
    names = set()
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "register" and isinstance(v, str):
                names.add(v)
            elif k in ("vars", "ansible.builtin.set_fact", "set_fact") and isinstance(v, dict):
                names.update(v)
            elif k == "loop_var":
                names.add(v)
            names |= defined_names(v)
    elif isinstance(node, list):
        for v in node:
            names |= defined_names(v)
    return names


class Playbook:
    def __init__(self, name):
        self.name = name
        self.path = os.path.join(ROOT, "playbooks", name + ".yml")
        self.plays = load(self.path)
        self.vars_files = {}
        for play in self.plays:
            for vf in play.get("vars_files", []):
                self.vars_files[vf] = load(os.path.join(ROOT, "playbooks", vf))
        self.templates = list(expressions(self.plays))
        for content in self.vars_files.values():
            self.templates += list(expressions(content))
        self.asts = [ENV.parse(t) for t in self.templates]
        self.defined = defined_names(self.plays) | {k for c in self.vars_files.values() for k in c}
        texts = [open(self.path).read()] + [open(os.path.join(ROOT, "playbooks", vf)).read() for vf in self.vars_files]
        self.text = "".join(texts)

    def inputs(self):
        names = set()
        for ast in self.asts:
            names |= jinja2.meta.find_undeclared_variables(ast)
        return names - self.defined - MAGIC

    def env_reads(self):
        return set(re.findall(r"lookup\('ansible\.builtin\.env', '([A-Z_]+)'", self.text))

    def conversions(self, var):
        """(defaults, conversions) applied to `var | default(X) | int...` anywhere in the playbook."""
        defaults, conv = [], set()
        for ast in self.asts:
            for flt in ast.find_all(jinja2.nodes.Filter):
                if flt.name == "default" and isinstance(flt.node, jinja2.nodes.Name) and flt.node.name == var \
                        and flt.args and isinstance(flt.args[0], jinja2.nodes.Const):
                    defaults.append(flt.args[0].value)
            for flt in ast.find_all(jinja2.nodes.Filter):
                inner = flt.node
                while isinstance(inner, jinja2.nodes.Filter):
                    if isinstance(inner.node, jinja2.nodes.Name) and inner.node.name == var:
                        if flt.name in ("int", "float", "bool"):
                            conv.add(flt.name)
                        break
                    inner = inner.node
        return defaults, conv

    def assert_choices(self, var):
        """Choices an input check accepts: `var | default('x') in ['a', 'b']` or `role_var in [...]`."""
        found = []
        for name in [var] + self.role_vars(var):
            pattern = r"\b%s(?: \| default\('[^']*'\))? in \[([^\]]*)\]" % re.escape(name)
            for match in re.finditer(pattern, self.text):
                found.append([c.strip().strip("'\"") for c in match.group(1).split(",")])
        listed = re.search(r"migrate_states: \[([^\]]*)\]", self.text)
        if var == "state" and listed:
            found.append([c.strip() for c in listed.group(1).split(",")])
        return found

    def role_vars(self, var):
        """Role variables the playbook sets from this input (`role_var: "{{ var | default(...) }}"`)."""
        out = []
        for match in re.finditer(r"^\s*(\w+): \"\{\{ %s\b[^\"]*\"" % re.escape(var), self.text, re.M):
            out.append(match.group(1))
        for match in re.finditer(r"^\s*(\w+): >-\n\s*\{\{ \(?%s\b" % re.escape(var), self.text, re.M):
            out.append(match.group(1))
        return out


def role_options():
    options = {}
    for path in glob.glob(os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml")):
        specs = load(path)["argument_specs"]
        for spec in specs.values():
            options.update(spec.get("options") or {})
    return options


def connection_reads():
    """Extra vars and environment variables the connection vars files read."""
    extra, env = set(), set()
    for path in glob.glob(os.path.join(ROOT, "playbooks", "vars", "*_connection.yml")):
        text = open(path).read()
        extra |= set(re.findall(r"\{\{ (\w+) \| default\(lookup", text))
        env |= set(re.findall(r"lookup\('ansible\.builtin\.env', '([A-Z_]+)'", text))
    return extra, env


def templates_by_playbook(config):
    out = {}
    for jt in config["controller_templates"]:
        match = re.match(r"^playbooks/(\w+)\.yml$", jt["playbook"])
        assert match, jt["playbook"]
        assert match.group(1) not in out, "two job templates for " + jt["playbook"]
        out[match.group(1)] = jt
    return out


def test_every_playbook_has_a_job_template_on_the_shared_objects(config):
    jts = templates_by_playbook(config)
    assert sorted(jts) == PLAYBOOKS
    projects = {p["name"] for p in config["controller_projects"]}
    inventories = {i["name"] for i in config["controller_inventories"]}
    ees = {e["name"] for e in config["controller_execution_environments"]}
    credentials = {c["name"]: c for c in config["controller_credentials"]}
    types = {t["name"] for t in config["controller_credential_types"]}
    hosts = [h for h in config["controller_hosts"] if h["inventory"] in inventories]
    assert [h["name"] for h in hosts] == ["localhost"] and hosts[0]["variables"]["ansible_connection"] == "local"
    for name, jt in jts.items():
        assert jt["project"] in projects and jt["inventory"] in inventories and jt["execution_environment"] in ees
        assert jt["job_type"] == "run" and jt["survey_enabled"] is True, name
        for cred in jt["credentials"]:
            assert cred in credentials and credentials[cred]["credential_type"] in types, (name, cred)
        assert jt.get("job_slice_count", 1) == 1, "slicing splits an ordered rolling run into unrelated jobs"


def test_surveys_ask_exactly_what_each_playbook_reads(config):
    conn_extra, _conn_env = connection_reads()
    for name, jt in templates_by_playbook(config).items():
        playbook = Playbook(name)
        inputs = playbook.inputs() - conn_extra
        asked = [q["variable"] for q in jt["survey_spec"]["spec"]]
        assert len(asked) == len(set(asked)), (name, asked)
        assert not set(asked) - inputs, "%s: survey sets variables the playbook never reads: %s" % (
            name, sorted(set(asked) - inputs))
        assert not inputs - set(asked), "%s: playbook inputs without a survey question: %s" % (
            name, sorted(inputs - set(asked)))


def test_survey_types_defaults_and_choices_agree_with_the_playbooks_and_roles(config):
    options = role_options()
    for name, jt in templates_by_playbook(config).items():
        playbook = Playbook(name)
        for q in jt["survey_spec"]["spec"]:
            var, kind = q["variable"], q["type"]
            where = "%s: %s" % (name, var)
            assert kind in SURVEY_TYPES, where
            assert {"question_name", "required", "type", "variable", "default"} <= set(q), where
            defaults, conv = playbook.conversions(var)
            specs = [options[r] for r in playbook.role_vars(var) if r in options]
            types = {s.get("type", "str") for s in specs}
            if kind == "integer":
                assert "int" in conv or "int" in types, where + " is an integer question the playbook does not int"
                assert isinstance(q["default"], int) and q["min"] <= q["default"] <= q["max"], where
                minimum = re.search(r"\b%s \| default\([^)]*\) \| int >= (\d+)" % var, playbook.text) or re.search(
                    r"\b(?:%s) \| int >= (\d+)" % "|".join(playbook.role_vars(var) or [var]), playbook.text)
                if minimum:
                    assert q["min"] == int(minimum.group(1)), where + " min differs from the input check"
            elif kind == "float":
                assert "float" in conv or "float" in types, where
                assert isinstance(q["default"], float), where
            elif kind == "multiplechoice":
                choices = q["choices"]
                assert isinstance(choices, list) and q["default"] in choices, where
                if set(choices) == {"true", "false"}:
                    assert "bool" in conv or "bool" in types, where + " is a yes/no question the playbook does not bool"
                else:
                    accepted = playbook.assert_choices(var) + [s["choices"] for s in specs if "choices" in s]
                    assert accepted, where + ": no input check or argument spec lists the choices"
                    for one in accepted:
                        assert sorted(one) == sorted(choices), "%s: survey %s, playbook/role %s" % (where, choices, one)
            else:
                assert not conv & {"int", "float", "bool"}, where + " is converted by the playbook: not a text question"
            # the default is the playbook's (and the role's, where the playbook maps the input to the role)
            if defaults and not q["required"] or kind != "text":
                if defaults:
                    want = defaults[0]
                    assert all(d == want for d in defaults), (where, defaults)
                    got = q["default"]
                    if kind == "multiplechoice" and set(q["choices"]) == {"true", "false"}:
                        got = got == "true"
                    assert got == want or str(got) == str(want), "%s: survey default %r, playbook %r" % (
                        where, q["default"], want)
            for spec in specs:
                if "default" in spec and spec["default"] not in ("", [], {}) and kind != "text":
                    got = q["default"]
                    if kind == "multiplechoice" and set(q["choices"]) == {"true", "false"}:
                        got = got == "true"
                    assert got == spec["default"], "%s: survey default %r, role %r" % (
                        where, q["default"], spec["default"])
            # required: the playbook refuses to run without it
            needs = re.search(r"^\s*- %s \| default\(''\) \| length > 0\s*$" % var, playbook.text, re.M)
            assert bool(q["required"]) == bool(needs) or kind != "text", where + " required differs from the check"
            assert not SECRET_ID.search(var) or kind == "password", where + " looks secret: use type password"


def test_credential_injectors_produce_what_the_playbooks_read_and_secrets_are_secret(config):
    conn_extra, conn_env = connection_reads()
    used = {c for jt in config["controller_templates"] for c in jt["credentials"]}
    creds = {c["name"]: c["credential_type"] for c in config["controller_credentials"]}
    pending = {}
    for ctype in config["controller_credential_types"]:
        fields = {f["id"]: f for f in ctype["inputs"]["fields"]}
        for fid, field in fields.items():
            if SECRET_ID.search(fid):
                assert field.get("secret") is True, "%s: %s must be secret" % (ctype["name"], fid)
        injected_extra = set(ctype["injectors"].get("extra_vars", {}))
        injected_env = set(ctype["injectors"].get("env", {}))
        templates = list(ctype["injectors"].get("extra_vars", {}).values()) + list(
            ctype["injectors"].get("env", {}).values()) + list(ctype["injectors"].get("file", {}).values())
        for template in templates:
            names = jinja2.meta.find_undeclared_variables(ENV.parse(template)) - {"tower"}
            assert names <= set(fields), (ctype["name"], template)
        # a secret reaches the job as an extra var (the controller writes extra vars to a private file) or
        # as a private file (keys); never in the environment, which ansible-runner records in its artifacts
        for key, template in ctype["injectors"].get("env", {}).items():
            names = jinja2.meta.find_undeclared_variables(ENV.parse(template))
            assert not {n for n in names if fields.get(n, {}).get("secret")}, (ctype["name"], key)
        if ctype["name"] in PROVISIONAL_TYPES:
            pending[ctype["name"]] = sorted(injected_extra | injected_env)
            assert ctype["name"] not in creds.values() or not used & {
                n for n, t in creds.items() if t == ctype["name"]}, "a provisional type is in use"
            continue
        assert not injected_extra - conn_extra, (ctype["name"], injected_extra - conn_extra)
        assert not injected_env - conn_env, (ctype["name"], injected_env - conn_env)
        assert injected_extra | injected_env, ctype["name"]
    assert pending == {"fleetops VirtFusion SSH key": [
        "virtfusion_host", "virtfusion_key_file", "virtfusion_known_hosts", "virtfusion_port", "virtfusion_user"]}


def test_each_job_template_gets_the_connection_its_playbook_needs(config):
    types = {t["name"]: t for t in config["controller_credential_types"]}
    creds = {c["name"]: c["credential_type"] for c in config["controller_credentials"]}
    needs = {"AVI_CONTROLLER": "avi_connection", "TRITON_ACCOUNT": "triton_connection"}
    for name, jt in templates_by_playbook(config).items():
        playbook = Playbook(name)
        injected = set()
        for cred in jt["credentials"]:
            injectors = types[creds[cred]]["injectors"]
            injected |= set(injectors.get("env", {})) | set(injectors.get("extra_vars", {}))
        for env, conn in needs.items():
            if conn + "." in playbook.text or "%s.yml" % conn in playbook.text:
                assert env in injected, "%s reads %s: its job template needs that credential" % (name, conn)
            else:
                assert env not in injected, "%s does not connect through %s" % (name, conn)
