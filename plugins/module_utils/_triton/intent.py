# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

The intent record of a compute node on Triton itself (see ``_common.intent``): one line of the
compute node's CNAPI ``comments`` (``POST /servers/:uuid {"comments": ...}``, ServerUpdate, a
synchronous write), ``fleetops-intent: {json}``. ``comments`` is free text that no allocator step
reads (research T4), so the line is inert; the operator's own text in ``comments`` is kept as it
is. A cordon (``reserved: true``) records the value it replaced here before it is set.

The version token is the whole ``comments`` text: a write reads it again first and refuses
(``Conflict``) when someone changed it in between (CNAPI documents no compare-and-set).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.fleetops.maintenance.plugins.module_utils._common.intent import Conflict, IntentError, Store
from ansible_collections.fleetops.maintenance.plugins.module_utils._triton.client import TritonError

MARKER = "fleetops-intent: "


def split_comments(text):
    """(the operator's lines, the record's entries) of a ``comments`` text."""
    mine, entries = [], {}
    for line in (text or "").split("\n"):
        if line.startswith(MARKER):
            try:
                entries = json.loads(line[len(MARKER):])
            except ValueError:
                raise IntentError("the fleetops-intent line of the compute node's comments is not JSON: %s" % line[:200])
            continue
        mine.append(line)
    while mine and mine[-1] == "":
        mine.pop()
    return mine, entries if isinstance(entries, dict) else {}


class CnapiCommentsStore(Store):
    """The record of compute node ``server_uuid`` in its CNAPI ``comments``."""

    def __init__(self, client, server_uuid, hostname=None):
        self.client = client
        self.uuid = server_uuid
        self.where = "the intent record of compute node %s (CNAPI comments)" % (hostname or server_uuid)

    def _comments(self):
        try:
            doc = self.client.cnapi("GET", "/servers/%s" % self.uuid) or {}
        except TritonError as exc:
            raise IntentError("reading %s: %s" % (self.where, exc.msg))
        return doc.get("comments") or ""

    def read(self):
        text = self._comments()
        return split_comments(text)[1], text

    def write(self, entries, token):
        text = self._comments()
        if text != token:
            raise Conflict("%s changed under this run" % self.where)
        lines, _old = split_comments(text)
        if entries:
            lines.append(MARKER + json.dumps(entries, sort_keys=True, separators=(",", ":")))
        try:
            self.client.cnapi("POST", "/servers/%s" % self.uuid, body={"comments": "\n".join(lines)})
        except TritonError as exc:
            raise IntentError("writing %s: %s" % (self.where, exc.msg))
