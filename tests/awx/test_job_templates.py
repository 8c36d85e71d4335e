"""The AWX / Automation Platform definitions (extensions/awx) against the playbooks they launch.

No controller runs here, so the definitions are checked against what the playbooks really read: the
rules of their input checks (fleetops.maintenance.check_inputs: types, choices, ranges, defaults, what
is required and when), or for a playbook that checks with asserts the variables of every Jinja
expression in it and its vars files (parsed with Jinja's own parser), the defaults and conversions
applied to them and the choices of its asserts; the argument specs of the roles and modules the
playbooks map them to, and the vendor's ranges the modules enforce.
"""
import glob
import importlib
import os
import re

import jinja2
import jinja2.meta
import jinja2.nodes
import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AWX = os.path.join(ROOT, "extensions", "awx", "config")
COLLECTION = "ansible_collections.fleetops.maintenance.plugins."
# Vars files whose dictionary keys are the options of a module (the module validates the values)
VARS_FILE_MODULES = {"vars/virtfusion_options.yml": "instance_migrate"}
# What Ansible defines itself, and names the playbooks define (register, loop vars, vars files)
MAGIC = {"ansible_check_mode", "hostvars", "groups", "inventory_hostname", "omit", "lookup", "query", "now",
         "ansible_playbook_python", "ansible_failed_result", "ansible_failed_task", "item", "true", "false",
         "none", "True", "False", "None", "range", "dict", "lipsum", "undef", "ansible_python_interpreter",
         "playbook_dir",
         "strategy"}   # upgrade.yml reads it only to refuse it, naming upgrade_strategy (a play keyword's name)
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
# playbooks of the repository that are not in the collection (the rehearsal: it starts the lab), by path
REPO_PLAYBOOKS = sorted(os.path.relpath(p, ROOT)[:-4] for p in glob.glob(os.path.join(ROOT, "rehearsal", "*.yml")))


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
        # the collection's playbooks by name; a playbook of the repository (rehearsal/) by its path
        self.path = os.path.join(ROOT, name + ".yml") if "/" in name else os.path.join(ROOT, "playbooks", name + ".yml")
        base = os.path.dirname(self.path)
        self.plays = load(self.path)
        self.vars_files = {}
        for play in self.plays:
            for vf in play.get("vars_files", []):
                self.vars_files[vf] = load(os.path.join(base, vf))
        self.templates = list(expressions(self.plays))
        for content in self.vars_files.values():
            self.templates += list(expressions(content))
        self.asts = [ENV.parse(t) for t in self.templates]
        self.defined = defined_names(self.plays) | {k for c in self.vars_files.values() for k in c}
        self.vars_texts = {vf: open(os.path.join(base, vf)).read() for vf in self.vars_files}
        self.text = open(self.path).read() + "".join(self.vars_texts.values())
        self.checks = list(assert_lines(self.plays))
        self.specs = list(input_specs(self.plays, self.vars_files))

    def rules(self, var):
        """(rules, condition of the check) of every check_inputs task that checks var."""
        return [(rules[var], when) for rules, when in self.specs if var in rules]

    def inputs(self):
        names = set()
        for ast in self.asts:
            names |= jinja2.meta.find_undeclared_variables(ast)
        # an input check's entry with a ``value`` is computed by the playbook (check_inputs), not asked of the operator
        return (names - self.defined - MAGIC) | {var for rules, _when in self.specs for var, rule in rules.items()
                                                 if not (isinstance(rule, dict) and "value" in rule)}

    def env_reads(self):
        return set(re.findall(r"lookup\('ansible\.builtin\.env', '([A-Z_]+)'", self.text))

    def conversions(self, var):
        """(defaults, conversions) applied to `var | default(X) | int...` anywhere in the playbook, or its checks'
        rules (`default`, `type`)."""
        if self.rules(var):
            rules = [rule for rule, _when in self.rules(var)]
            return ([rule["default"] for rule in rules if "default" in rule],
                    {rule.get("type") for rule in rules} & {"int", "bool", "float"})
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
        """Choices an input check accepts: `var | default('x') in ['a', 'b']`, `role_var in [...]`, or
        `var | default('x') in a_list` with `a_list: [a, b]` in the play's vars. An empty string (an
        unanswered optional question) is left out. Or the choices of its checks' rules."""
        found = [list(rule["choices"]) for rule, _when in self.rules(var) if "choices" in rule]
        for name in [var] + self.role_vars(var):
            pattern = r"\b%s(?: \| default\('[^']*'\))? in \[([^\]]*)\]" % re.escape(name)
            for match in re.finditer(pattern, self.text):
                found.append([c.strip().strip("'\"") for c in match.group(1).split(",")])
            pattern = r"\b%s(?: \| default\('[^']*'\))? in (\w+)\b" % re.escape(name)
            for match in re.finditer(pattern, self.text):
                listed = re.search(r"^\s*%s: \[([^\]]*)\]" % match.group(1), self.text, re.M)
                if listed:
                    found.append([c.strip() for c in listed.group(1).split(",")])
        return [[c for c in one if c] for one in found]

    def needed(self, var):
        """The conditions under which an input check refuses to run without var: [None] when always."""
        pattern = re.compile(r"^%s \| default\(''\)(?: \| string)? \| length > 0$" % re.escape(var))
        needs = [when for line, when in self.checks if pattern.match(line)]
        for rule, when in self.rules(var):
            if rule.get("required_when"):
                cond = " and ".join("%s == '%s'" % (k, v) for k, v in rule["required_when"].items())
                needs.append(" and ".join(c for c in (cond, when) if c))
            elif rule.get("required"):
                needs.append(when)
        return needs

    def minimum(self, var):
        """The least value the playbook accepts for an integer var, or None."""
        for rule, _when in self.rules(var):
            if "min" in rule:
                return rule["min"]
        match = re.search(r"\b%s \| default\([^)]*\) \| int >= (\d+)" % var, self.text) or re.search(
            r"\b(?:%s) \| int >= (\d+)" % "|".join(self.role_vars(var) or [var]), self.text)
        return int(match.group(1)) if match else None

    def module_options(self, var):
        """Options of the modules var reaches: a task's `option: "{{ var ... }}"`, or a key of a vars file
        whose dictionary is a module's options (`'option': var | ...`, nested dictionaries as `parent.key`)."""
        out = []
        for module in set(re.findall(r"^\s*fleetops\.maintenance\.(\w+):", self.text, re.M)):
            options = module_spec(module)
            out += [options[key] for key in self.role_vars(var) if key in options]
        for vf, text in self.vars_texts.items():
            if vf in VARS_FILE_MODULES:
                options = module_spec(VARS_FILE_MODULES[vf])
                out += [options[path] for path in vars_file_keys(text).get(var, []) if path in options]
        return out

    def role_vars(self, var):
        """Role variables the playbook sets from this input (`role_var: "{{ var | default(...) }}"`)."""
        out = []
        for match in re.finditer(r"^\s*(\w+): \"\{\{ (?:checked\.inputs\.)?%s\b[^\"]*\"" % re.escape(var), self.text,
                                 re.M):
            out.append(match.group(1))
        for match in re.finditer(r"^\s*(\w+): >-\n\s*\{\{ \(?%s\b" % re.escape(var), self.text, re.M):
            out.append(match.group(1))
        return out


def assert_lines(node, when=None):
    """(line, condition) for every line of every assert task's `that`; condition is the `when` of the task
    or of the block around it (None when the check always runs)."""
    if isinstance(node, list):
        for item in node:
            yield from assert_lines(item, when)
    elif isinstance(node, dict):
        here = node.get("when")
        here = " and ".join(here) if isinstance(here, list) else here
        cond = " and ".join(c for c in (when, here) if c) or None
        args = node.get("ansible.builtin.assert") or node.get("assert")
        if isinstance(args, dict):
            that = args.get("that")
            for line in that if isinstance(that, list) else [that]:
                yield " ".join(str(line).split()), cond
        for key in ("block", "rescue", "always", "tasks", "pre_tasks", "post_tasks"):
            if key in node:
                yield from assert_lines(node[key], cond)


def input_specs(node, vars_files, when=None, play_vars=None):
    """(rules, condition) of every check_inputs task: its `inputs`, a dictionary or `{{ a | combine(b, ...) }}` of
    dictionaries the play's vars or vars files define; condition, the `when` of the task or its blocks."""
    if isinstance(node, list):
        for item in node:
            yield from input_specs(item, vars_files, when, play_vars)
    elif isinstance(node, dict):
        if "hosts" in node:
            play_vars = dict(node.get("vars") or {})
            for content in vars_files.values():
                play_vars.update(content)
        here = node.get("when")
        here = " and ".join(here) if isinstance(here, list) else here
        cond = " and ".join(c for c in (here, when) if c) or None
        args = node.get("fleetops.maintenance.check_inputs")
        if isinstance(args, dict):
            inputs = args["inputs"]
            if isinstance(inputs, str):
                merged = {}
                for name in re.findall(r"\w+", inputs.strip("{} ")):
                    if name != "combine":
                        merged.update(play_vars[name])
                inputs = merged
            yield inputs, cond
        for key in ("block", "rescue", "always", "tasks", "pre_tasks", "post_tasks"):
            if key in node:
                yield from input_specs(node[key], vars_files, cond, play_vars)


def vars_file_keys(text):
    """var -> option paths in a vars file of `name: {{ {'key': var | ...} }}` blocks; a block used as the value
    of another block's key nests its keys under that key."""
    blocks = dict(re.findall(r"^(\w+): (.*?)(?=^\w+:|\Z)", text, re.M | re.S))
    parent = {}
    for body in blocks.values():
        for key, ref in re.findall(r"'(\w+)': (\w+)\b", body):
            if ref in blocks:
                parent[ref] = key
    out = {}
    for name, body in blocks.items():
        for key, checked, plain in re.findall(r"'(\w+)': (?:checked\.inputs\.(\w+)|(\w+) \|)", body):
            var = checked or plain
            out.setdefault(var, []).append("%s.%s" % (parent[name], key) if name in parent else key)
    return out


def module_spec(module):
    """A module's options (with its fragments' from this collection), suboptions as `parent.key`, each with the
    vendor's range (`range`: low, high) where the module enforces one."""
    docs = [importlib.import_module(COLLECTION + "modules." + module).DOCUMENTATION]
    doc = yaml.safe_load(docs[0])
    for fragment in doc.get("extends_documentation_fragment") or []:
        if fragment.startswith("fleetops.maintenance."):
            docs.append(importlib.import_module(COLLECTION + "doc_fragments." + fragment.split(".")[-1])
                        .ModuleDocFragment.DOCUMENTATION)
    options = {}
    for text in docs:
        for name, spec in (yaml.safe_load(text).get("options") or {}).items():
            options[name] = spec
            for sub, subspec in (spec.get("suboptions") or {}).items():
                options["%s.%s" % (name, sub)] = subspec
    if module == "instance_migrate":
        ranges = importlib.import_module(COLLECTION + "module_utils._virtfusion.spec").RANGES
        for name, (low, high, _unit) in ranges.items():
            options[name] = dict(options[name], range=(low, high))
    return options


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
        match = re.match(r"^playbooks/(\w+)\.yml$", jt["playbook"]) or re.match(r"^(rehearsal/\w+)\.yml$",
                                                                                jt["playbook"])
        assert match, jt["playbook"]
        assert match.group(1) not in out, "two job templates for " + jt["playbook"]
        out[match.group(1)] = jt
    return out


def test_every_playbook_has_a_job_template_on_the_shared_objects(config):
    jts = templates_by_playbook(config)
    assert sorted(jts) == sorted(PLAYBOOKS + REPO_PLAYBOOKS)
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


def test_survey_types_defaults_and_choices_agree_with_the_playbooks_roles_and_modules(config):
    options = role_options()
    for name, jt in templates_by_playbook(config).items():
        playbook = Playbook(name)
        for q in jt["survey_spec"]["spec"]:
            var, kind = q["variable"], q["type"]
            where = "%s: %s" % (name, var)
            assert kind in SURVEY_TYPES, where
            assert {"question_name", "required", "type", "variable", "default"} <= set(q), where
            defaults, conv = playbook.conversions(var)
            specs = [options[r] for r in playbook.role_vars(var) if r in options] + playbook.module_options(var)
            types = {s.get("type", "str") for s in specs}
            # an optional question left empty passes nothing (or ""): the playbook must then mean "not set"
            unset = q["default"] == "" and not q["required"]
            # (check_inputs takes an empty answer for not given)
            if unset and kind != "text" and not playbook.rules(var):
                assert defaults and all(d == "" for d in defaults), where + ": empty must mean not set to the playbook"
            if kind == "integer":
                assert "int" in conv or "int" in types, where + " is an integer question the playbook does not int"
                assert unset or isinstance(q["default"], int) and q["min"] <= q["default"] <= q["max"], where
                minimum = playbook.minimum(var)
                if minimum is not None:
                    assert q["min"] == minimum, where + " min differs from the input check"
                for rule, _when in playbook.rules(var):
                    assert (rule.get("min", q["min"]), rule.get("max", q["max"])) == (q["min"], q["max"]), (
                        "%s: survey %s-%s, input check %s" % (where, q["min"], q["max"], rule))
                for spec in specs:
                    if "range" in spec:   # the vendor's range, as the module enforces it
                        assert (q["min"], q["max"]) == spec["range"], "%s: survey %s-%s, module %s" % (
                            where, q["min"], q["max"], spec["range"])
            elif kind == "float":
                assert "float" in conv or "float" in types, where
                assert isinstance(q["default"], float), where
            elif kind == "multiplechoice":
                choices = q["choices"]
                assert isinstance(choices, list) and (q["default"] in choices or unset), where
                if set(choices) == {"true", "false"}:
                    assert "bool" in conv or "bool" in types, where + " is a yes/no question the playbook does not bool"
                else:
                    # the playbook's checks may each apply to one provider: together they accept the choices
                    checks = playbook.assert_choices(var)
                    specced = [s["choices"] for s in specs if "choices" in s]
                    assert checks or specced, where + ": no input check or argument spec lists the choices"
                    if checks:
                        union = sorted(set(c for one in checks for c in one))
                        assert union == sorted(choices), "%s: survey %s, playbook checks %s" % (where, choices, checks)
                    else:
                        assert sorted(specced[0]) == sorted(choices), "%s: survey %s, spec %s" % (
                            where, choices, specced[0])
                    for one in specced:
                        assert not set(choices) - set(one), "%s: survey %s, role/module %s" % (where, choices, one)
            else:
                assert not conv & {"int", "float", "bool"}, where + " is converted by the playbook: not a text question"
                assert not types & {"int", "float", "bool"}, "%s: a %s option: not a text question" % (where, types)
            # the default is the playbook's (and the role's or module's, where the playbook maps the input to one)
            if (defaults and not q["required"] or kind != "text") and defaults:
                want = defaults[0]
                assert all(d == want for d in defaults), (where, defaults)
                got = q["default"]
                if kind == "multiplechoice" and set(q["choices"]) == {"true", "false"} and not unset:
                    got = got == "true"
                if want == [] and kind == "textarea":     # a yaml_list input: its YAML text, empty for no list
                    want = ""
                assert got == want or str(got) == str(want), "%s: survey default %r, playbook %r" % (
                    where, q["default"], want)
            for spec in specs:
                if "default" in spec and spec["default"] not in ("", [], {}) and kind != "text" and not unset:
                    got = q["default"]
                    if kind == "multiplechoice" and set(q["choices"]) == {"true", "false"}:
                        got = got == "true"
                    assert got == spec["default"], "%s: survey default %r, role/module %r" % (
                        where, q["default"], spec["default"])
            # required: the playbook refuses to run without it; a question needed with one provider only is optional
            # and says when it is needed
            needs = playbook.needed(var)
            if kind == "text":
                assert bool(q["required"]) == (None in needs), where + " required differs from the check"
            for when in needs:
                if when is not None:
                    provider = (re.findall(r"provider == '(\w+)'", when) or re.findall(r"'(\w+)'", when))[-1]
                    assert "required with provider %s" % provider in q.get("question_description", ""), (where, when)
            assert not SECRET_ID.search(var) or kind == "password", where + " looks secret: use type password"


def test_credential_injectors_produce_what_the_playbooks_read_and_secrets_are_secret(config):
    conn_extra, conn_env = connection_reads()
    used = {c for jt in config["controller_templates"] for c in jt["credentials"]}
    creds = {c["name"]: c["credential_type"] for c in config["controller_credentials"]}
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
        used_fields = set()
        for template in templates:
            used_fields |= jinja2.meta.find_undeclared_variables(ENV.parse(template))
        assert not set(fields) - used_fields, "%s: fields never injected: %s" % (
            ctype["name"], sorted(set(fields) - used_fields))
        assert not injected_extra - conn_extra, (ctype["name"], injected_extra - conn_extra)
        assert not injected_env - conn_env, (ctype["name"], injected_env - conn_env)
        assert injected_extra | injected_env, ctype["name"]
        assert ctype["name"] in creds.values() and used & {n for n, t in creds.items() if t == ctype["name"]}, (
            "%s: no job template uses a credential of this type" % ctype["name"])


def test_each_job_template_gets_the_connection_its_playbook_needs(config):
    types = {t["name"]: t for t in config["controller_credential_types"]}
    creds = {c["name"]: c["credential_type"] for c in config["controller_credentials"]}
    needs = {"AVI_CONTROLLER": "avi_connection", "TRITON_ACCOUNT": "triton_connection",
             "virtfusion_api_url": "virtfusion_connection"}
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


def test_canary_workflow_waits_for_an_approval_between_the_canary_and_the_rest(config):
    """The AWX workflow the rolling-upgrade guide refers to: canary job, approval node, the same job template again
    with canary_then=continue; every extra var a node sets is a question of its job template's survey."""
    jts = {jt["name"]: jt for jt in config["controller_templates"]}
    wf = next(w for w in config["controller_workflows"] if "approved canary" in w["name"])
    nodes = {n["identifier"]: n for n in wf["workflow_nodes"]}
    order, node = [], nodes["canary"]
    while node:
        order.append(node)
        nxt = (node.get("related") or {}).get("success_nodes") or []
        node = nodes[nxt[0]["identifier"]] if nxt else None
    assert [n["unified_job_template"]["type"] for n in order] == ["job_template", "workflow_approval", "job_template"]
    assert order[1]["unified_job_template"]["timeout"] > 0
    assert [n["extra_data"]["canary_then"] for n in (order[0], order[2])] == ["stop", "continue"]
    for n in (order[0], order[2]):
        jt = jts[n["unified_job_template"]["name"]]
        asked = {q["variable"] for q in jt["survey_spec"]["spec"]}
        assert set(n["extra_data"]) <= asked
        assert {q["variable"] for q in wf["survey_spec"]["spec"]} <= asked
