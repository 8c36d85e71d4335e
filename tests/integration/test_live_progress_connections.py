"""Where the module runs decides how the live-progress action plugin follows it (plugin_utils/live_progress).
Over ``connection: local`` (the usual case of these API modules) the module runs the ordinary way and its
progress file is read on this machine; over any other connection it runs as an async job on the target, followed
with shell commands there. Both ways the progress lines arrive as job events while the task runs, and the run's
result is the same. The other connection is ``elsewhere`` (tests/integration/connection_plugins): the local
connection under another name, which logs the commands it runs."""
import os

from conftest import live_progress, run_playbook

PLUGINS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "connection_plugins")


def test_the_evacuation_shows_live_progress_over_local_and_over_another_connection(lab, tmp_path):
    reports = {}
    for connection in ("local", "elsewhere"):
        lab.admin("POST", "reset")
        (tmp_path / connection).mkdir()
        async_dir, log = tmp_path / connection / "async", tmp_path / connection / "commands.log"
        # the playbook's play says connection: local; the variable overrides it
        run = run_playbook(lab, "evacuate_se", extra_vars={"service_engine": "se-a", "ansible_connection": connection},
                           extra_env={"ANSIBLE_ASYNC_DIR": str(async_dir), "ANSIBLE_CONNECTION_PLUGINS": PLUGINS,
                                      "FLEETOPS_TEST_COMMAND_LOG": str(log)})
        rc, out = run
        assert rc == 0, out[-3000:]
        live_progress(run, "Set the Service Engine to disabled", "[se_disable] localhost | evacuate")
        report = run.stats["se_evacuate_report"]
        reports[connection] = (report["state"], report["lost"], sorted((m["name"], m.get("result")) for m in report["moves"]))
        if connection == "local":
            # the module ran the ordinary way: no async job, no command of this test's connection
            assert not async_dir.exists() and not log.exists()
        else:
            commands = log.read_text()
            assert "async_wrapper" in commands and "fleetops-progress-" in commands, commands[-2000:]
            # the job's files were removed once its result was read
            assert sorted(os.listdir(str(async_dir))) == []
    assert reports["local"] == reports["elsewhere"] and reports["local"][0] == "SE_STATE_DISABLED"
    assert reports["local"][1] == [] and reports["local"][2]
