"""A job template launched the way AWX / Automation Platform launches it, without a controller, against the lab:
its playbook (the project's path), its survey's answers as extra vars, and its credential's type rendered as the
controller renders it - the injectors' ``env`` into the job's environment, ``extra_vars`` into the extra vars file,
``file`` templates into files named by ``tower.filename`` - through ansible-runner, the engine AWX runs jobs with.
All of it is read from extensions/awx/config (job_templates.yml, credential_types.yml, credentials.yml), so a
template, its survey or its credential type cannot drift from the playbook it launches.

What it does not cover: the controller itself (projects, inventories, the approval nodes of workflows), which
guide_awx describes and no test here runs."""
import importlib.util
import os
import sys

import jinja2.sandbox
import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AWX = os.path.join(ROOT, "extensions", "awx", "config")
_spec = importlib.util.spec_from_file_location("integration_conftest",
                                               os.path.join(ROOT, "tests", "integration", "conftest.py"))
integration = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("integration_conftest", integration)
_spec.loader.exec_module(integration)


class Loader(yaml.SafeLoader):
    """YAML as Ansible reads it: ``!unsafe`` marks a string Ansible must not template (the controller renders it)."""


Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def config(name, key):
    with open(os.path.join(AWX, name)) as stream:
        return dict((item["name"], item) for item in yaml.load(stream, Loader=Loader)[key])  # noqa: S506 (safe)


def survey_answers(template, answers):
    """The extra vars a launch with the survey sends: each question's answer, or its default when not answered."""
    out = {}
    for question in template["survey_spec"]["spec"]:
        value = answers.get(question["variable"], question.get("default"))
        assert value not in (None, "") or not question["required"], "%s: required, no answer" % question["variable"]
        out[question["variable"]] = value
    unknown = set(answers) - set(out)
    assert not unknown, "not questions of the survey: %s" % sorted(unknown)
    return out


def render_credential(credential_type, inputs, files_dir):
    """(env, extra_vars) of one credential, as the controller renders its type's injectors: each ``file`` template
    written to a private file whose path ``tower.filename.NAME`` (``tower.filename`` for ``template``) gives."""
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined)
    fields = dict((f["id"], "") for f in credential_type["inputs"]["fields"])
    fields.update(inputs)
    missing = [f for f in credential_type["inputs"].get("required", []) if not fields.get(f)]
    assert not missing, "credential inputs required: %s" % missing
    injectors = credential_type["injectors"]
    filenames = {}
    for key, template in (injectors.get("file") or {}).items():
        name = key.split(".", 1)[1] if "." in key else None
        path = os.path.join(files_dir, "cred-" + (name or "file"))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as stream:
            stream.write(env.from_string(template).render(fields))
        filenames[name] = path
    tower = {"filename": filenames.get(None) or dict((k, v) for k, v in filenames.items() if k)}
    context = dict(fields, tower=tower)
    rendered_env = dict((k, env.from_string(v).render(context)) for k, v in (injectors.get("env") or {}).items())
    extra_vars = dict((k, env.from_string(v).render(context)) for k, v in (injectors.get("extra_vars") or {}).items())
    return rendered_env, extra_vars


class AwxJobLab(integration.PlaybookLab):
    """The lab, reached only through what a job gets from its credential: the environment has no AVI_* of the
    machine, only the injected variables."""
    injected = {}

    def env(self):
        env = dict((k, v) for k, v in os.environ.items() if not k.startswith(("AVI_", "TRITON_", "VIRTFUSION_")))
        env.update(self.injected)
        return integration.ansible_env(env)


@pytest.fixture
def avi_lab(tmp_path):
    yield from AwxJobLab(tmp_path / "lab", "small.yml").running()


def test_evacuate_se_template_launched_as_awx_does_plans_in_check_mode(avi_lab, tmp_path):
    template = config("job_templates.yml", "controller_templates")["fleetops - Evacuate an Avi Service Engine"]
    credential = config("credentials.yml", "controller_credentials")[template["credentials"][0]]
    credential_type = config("credential_types.yml", "controller_credential_types")[credential["credential_type"]]
    # the credential's inputs, as an operator fills them in for the lab (the form's fields, by their ids)
    with open(avi_lab.ca) as stream:
        ca_cert = stream.read()
    inputs = {"controller": avi_lab.url.split("://", 1)[1], "username": avi_lab.credentials["username"],
              "password": avi_lab.credentials["password"], "api_version": "22.1.3", "tenant": "admin",
              "ca_cert": ca_cert}
    assert set(inputs) == set(credential["inputs"]), "the credential's inputs changed: %s" % sorted(credential["inputs"])
    env, injected_vars = render_credential(credential_type, inputs, str(tmp_path))
    assert "AVI_PASSWORD" not in env and injected_vars == {"avi_password": inputs["password"]}
    avi_lab.injected = env
    extra_vars = dict(survey_answers(template, {"service_engine": "se-a"}), **injected_vars)
    # job type check (ask_job_type_on_launch): the playbook plans and changes nothing
    assert template["ask_job_type_on_launch"]
    playbook = os.path.join(ROOT, template["playbook"])
    before = avi_lab.admin("GET", "stats")["operations"]
    run = integration.run_playbook(avi_lab, playbook, extra_vars, check=True)
    rc, out = run
    assert rc == 0, out[-3000:]
    flat = " ".join(out.split())
    assert "se-a" in flat and "vs-1" in flat and "vs-2" in flat, out[-3000:]
    assert avi_lab.admin("GET", "stats")["operations"] == before
    assert not integration.secrets_found(run, inputs["password"])
