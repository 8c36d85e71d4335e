# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: run_record_html
author: fleetops maintainers
version_added: 0.1.0
short_description: Render a run record as a self-contained HTML report with a timeline
description:
  - Turns a run record (the JSON document the roles of this collection write, format
    C(fleetops.maintenance.run_record/v1)) into one HTML page with inline CSS and SVG; it loads nothing from the
    network, so it can be attached to a ticket or opened offline.
  - The timeline has one row per step (Service Engine, SE group, controller cluster, Triton instance or compute
    node, VirtFusion server or hypervisor),
    grouped by the step's C(group), each phase a bar on a common time axis, so that parallel groups and serial
    steps within a group can be seen at a glance. Disruptive phases are red, and a red triangle marks a step
    that disrupted (or was expected to disrupt) service. A table lists every step with its phases, disruption and
    message.
  - A record still being written (M(fleetops.maintenance.run_record)), or left by a run that was killed, has the
    result C(unfinished); its phases that were running end when it was last written.
  - Fails naming the field when the input is not a run record.
positional: title
options:
  _input:
    description: The run record (a dictionary, for example read with C(ansible.builtin.from_json)).
    type: dict
    required: true
  title:
    description: Title of the page. Default is the record's C(title).
    type: str
'''

EXAMPLES = r'''
- name: Write the report of a rolling upgrade next to its run record
  ansible.builtin.copy:
    content: "{{ lookup('ansible.builtin.file', '/var/tmp/upgrade.json') | from_json
                 | fleetops.maintenance.run_record_html }}"
    dest: /var/tmp/upgrade.html
    mode: "0644"
'''

RETURN = r'''
_value:
  description: The HTML page.
  type: str
'''

from ansible.errors import AnsibleFilterError

from ansible_collections.fleetops.maintenance.plugins.plugin_utils.run_record import RunRecordError
from ansible_collections.fleetops.maintenance.plugins.plugin_utils.run_record_html import render_html


def run_record_html(record, title=None):
    try:
        return render_html(record, title=title)
    except RunRecordError as exc:
        raise AnsibleFilterError("run_record_html: not a run record: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"run_record_html": run_record_html}
