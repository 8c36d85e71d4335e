# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

What the twin exporters of every vendor (``_avi.twin``, ``_triton.twin``, ``_virtfusion.twin``) share: the
:class:`Twin` document they fill (a lab topology plus its ``twin:`` section: what is unknown and why, what was
left out, what the lab cannot show), the :class:`Pseudonyms` that replace names, uuids and IP addresses when asked,
the YAML text, the check that no secret of the source is in it, and the file write (atomic, mode 0600, only
when the content changes).

A twin holds no secret and no customer data: no password, token or key, no metadata value, no certificate, no
virtual service content beyond what placement and capacity need. A field the vendor does not expose is written
as null and listed in ``twin.unknown`` with the reason: never invented.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import os
import tempfile
import uuid as uuidlib

try:
    import yaml
    HAS_YAML = True
except ImportError:  # reported by the module with missing_required_lib's advice
    yaml = None
    HAS_YAML = False

FORMAT = "fleetops.maintenance.twin/v1"
# uuid5 namespace of pseudonymous uuids (a fixed random value: pseudonyms do not depend on the real uuid)
_NAMESPACE = uuidlib.UUID("5b0f3c52-93a4-4cf3-9d0e-1f6c8a4e2b71")
# where pseudonymous addresses come from: private ranges, and the benchmark range for addresses in no known range
_V4_POOL = ipaddress.ip_network("10.0.0.0/8")
_V4_LOOSE = ipaddress.ip_network("198.18.0.0/15")
_V6_POOL = ipaddress.ip_network("fd00::/16")


class TwinError(Exception):
    """The export cannot be written (a secret found in it, a file that cannot be written)."""


class Pseudonyms(object):
    """Names, uuids and IP addresses as they go into the twin: the real ones, or (``enabled``) stable pseudonyms.

    A pseudonym is ``<kind>-<n>`` numbered in the order the exporter meets the objects (it reads them sorted by
    name, so the same system gives the same twin); a pseudonymous uuid is derived from that number, never from
    the real value; an address keeps its place in the ranges the twin knows (an address inside a hypervisor's IP
    range stays inside that range's pseudonymous range), which is what the vendors' pre-checks look at.
    :meth:`mapping` is the table back to the real values, for the operator (it never goes into the twin).
    """

    def __init__(self, enabled=False):
        self.enabled = bool(enabled)
        self._names = {}
        self._uuids = {}
        self._networks = {}
        self._addresses = {}
        self._next_v4 = _V4_POOL.network_address
        self._next_v6 = _V6_POOL.network_address
        self._loose = 0

    def name(self, kind, real):
        if not self.enabled or real in (None, ""):
            return real
        table = self._names.setdefault(kind, {})
        if real not in table:
            table[real] = "%s-%03d" % (kind, len(table) + 1)
        return table[real]

    def uuid(self, kind, real):
        if not self.enabled or real in (None, ""):
            return real
        table = self._uuids.setdefault(kind, {})
        if real not in table:
            table[real] = str(uuidlib.uuid5(_NAMESPACE, "%s:%d" % (kind, len(table) + 1)))
        return table[real]

    def network(self, cidr):
        """A network (``10.0.1.0/24``) of the source: itself, or a pseudonymous one of the same size."""
        if not self.enabled or not cidr:
            return cidr
        try:
            net = ipaddress.ip_network(str(cidr), strict=False)
        except ValueError:
            return self.name("network", cidr)
        if net not in self._networks:
            if net.version == 4:
                start = int(self._next_v4) + net.num_addresses - 1
                start -= start % net.num_addresses
                fake = ipaddress.ip_network((start, net.prefixlen))
                self._next_v4 = fake.broadcast_address + 1
            else:
                start = int(self._next_v6) + net.num_addresses - 1
                start -= start % net.num_addresses
                fake = ipaddress.ip_network((ipaddress.IPv6Address(start), net.prefixlen))
                self._next_v6 = fake.broadcast_address + 1
            self._networks[net] = fake
        return str(self._networks[net])

    def address(self, addr):
        """An IP address of the source: itself, or its pseudonym (same offset in the pseudonymous network of the
        first known network holding it; else the next address of a range no network uses)."""
        if not self.enabled or not addr:
            return addr
        if addr in self._addresses:
            return self._addresses[addr]
        try:
            ip = ipaddress.ip_address(str(addr))
        except ValueError:
            return self.name("address", addr)
        fake = None
        for net, pseudo in self._networks.items():
            if ip.version == net.version and ip in net:
                fake = pseudo.network_address + (int(ip) - int(net.network_address))
                break
        if fake is None:
            self._loose += 1
            base = _V4_LOOSE if ip.version == 4 else _V6_POOL
            fake = base.network_address + (self._loose if ip.version == 4 else (1 << 100) + self._loose)
        self._addresses[addr] = str(fake)
        return self._addresses[addr]

    def mapping(self):
        """``{kind: {real: pseudonym}}`` for names, uuids, networks and addresses (empty when not enabled)."""
        if not self.enabled:
            return {}
        out = dict(("names/%s" % kind, dict(table)) for kind, table in self._names.items())
        out.update(("uuids/%s" % kind, dict(table)) for kind, table in self._uuids.items())
        if self._networks:
            out["networks"] = dict((str(k), str(v)) for k, v in self._networks.items())
        if self._addresses:
            out["addresses"] = dict(self._addresses)
        return out


class Twin(object):
    """The document an exporter fills: ``topology`` (the lab topology, vendor sections) and the ``twin:`` section
    (format, provider, source summary, unknown fields, what was left out, notes)."""

    def __init__(self, provider, pseudonyms):
        self.provider = provider
        self.pseudonyms = pseudonyms
        self.topology = {}
        self.source = {}
        self.unknown = []
        self.not_exported = []
        self.notes = []
        self.extra = {}
        self._unknown_seen = set()

    def mark_unknown(self, field, why, assumption=None):
        """``field`` (a path like ``clouds[*].hosts[*].max_se_on_host``) is written as null: the vendor does not
        expose it (``why``); ``assumption`` says what a rehearsal assumes unless the operator says otherwise."""
        if field in self._unknown_seen:
            return
        self._unknown_seen.add(field)
        entry = {"field": field, "why": why}
        if assumption:
            entry["rehearsal_assumes"] = assumption
        self.unknown.append(entry)

    def leave_out(self, what):
        if what not in self.not_exported:
            self.not_exported.append(what)

    def note(self, text):
        if text not in self.notes:
            self.notes.append(text)

    def document(self):
        section = {"format": FORMAT, "provider": self.provider, "source": self.source,
                   "pseudonymised": self.pseudonyms.enabled, "unknown": self.unknown,
                   "not_exported": self.not_exported, "notes": self.notes}
        section.update(self.extra)
        doc = {"twin": section}
        doc.update(self.topology)
        return doc

    def counts(self):
        """How many objects of each kind the twin holds (for the module's result)."""
        def count(items):
            return len(items) if isinstance(items, list) else 0
        topo = self.topology
        out = {}
        if self.provider == "avi":
            out = {"clouds": count(topo.get("clouds")),
                   "hosts": sum(count(c.get("hosts")) for c in topo.get("clouds") or []),
                   "se_groups": count(topo.get("se_groups")),
                   "service_engines": sum(count(g.get("service_engines")) for g in topo.get("se_groups") or []),
                   "virtual_services": count(topo.get("virtual_services")), "images": count(topo.get("images"))}
        elif self.provider == "triton":
            tri = topo.get("triton") or {}
            out = {"servers": count(tri.get("servers")), "instances": count(tri.get("instances")),
                   "accounts": count(tri.get("accounts"))}
        elif self.provider == "virtfusion":
            vf = topo.get("virtfusion") or {}
            out = {"hypervisors": count(vf.get("hypervisors")), "servers": count(vf.get("servers"))}
        return out


SYSTEMS = {"avi": "an Avi controller", "triton": "a Triton data center", "virtfusion": "a VirtFusion control server"}
HEADER = """\
# A twin of %(system)s, exported read-only by fleetops.maintenance.twin_export.
# A lab topology (lab/README.md in the collection's repository) plus the twin: section. It holds no secret and
# no customer data; null fields are unknown (twin.unknown says why): a rehearsal states what it assumes for them.
"""


def render(twin):
    """The twin as YAML text (the header comment, then the document)."""
    if not HAS_YAML:
        raise TwinError("the Python library PyYAML is needed to write the twin")
    body = yaml.safe_dump(twin.document(), sort_keys=False, default_flow_style=False, width=120,
                          allow_unicode=True)
    return HEADER % {"system": SYSTEMS.get(twin.provider, twin.provider)} + body


def check_no_secret(text, secrets):
    """TwinError when any of ``secrets`` (the source's password, token, key text...) appears in ``text``: the
    export fails rather than write it. The message never holds the secret."""
    for label, value in secrets:
        if value and len(str(value)) >= 4 and str(value) in text:
            raise TwinError("refusing to write the twin: it would contain the source's %s; nothing was written"
                            % label)


def write_if_changed(path, text, check_mode=False, mode=0o600):
    """Write ``text`` to ``path`` (atomically: a temporary file renamed over it, mode 0600) unless it already holds
    exactly that. Returns ``(changed, before)`` where ``before`` is the old text (None when there was no file)."""
    before = None
    if os.path.exists(path):
        try:
            with open(path, "r") as stream:
                before = stream.read()
        except (IOError, OSError) as exc:
            raise TwinError("%s cannot be read: %s" % (path, exc.strerror or exc))
    if before == text:
        return False, before
    if check_mode:
        return True, before
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise TwinError("cannot write %s: the directory %s does not exist" % (path, directory))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".twin-", dir=directory)
        try:
            with os.fdopen(fd, "w") as stream:
                stream.write(text)
            os.chmod(tmp, mode)
            os.rename(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    except (IOError, OSError) as exc:
        raise TwinError("cannot write %s: %s" % (path, exc.strerror or exc))
    return True, before


def render_mapping(mapping):
    """The pseudonym table as YAML (for the operator's eyes only)."""
    if not HAS_YAML:
        raise TwinError("the Python library PyYAML is needed to write the pseudonym table")
    head = ("# The pseudonyms of a twin and the real names, uuids and addresses they stand for. Keep this file with\n"
            "# the operator: it is not part of the twin. A rehearsal translates the operator's variables with it.\n")
    return head + yaml.safe_dump(mapping, sort_keys=True, default_flow_style=False, width=120)


def twin_argument_spec(providers):
    """The options of ``twin_export``: its own, then every provider's connection dict (``providers`` maps a provider
    to its connection argument spec)."""
    spec = {
        "provider": {"type": "str", "required": True, "choices": sorted(providers)},
        "dest": {"type": "path", "required": True},
        "pseudonymise": {"type": "bool", "default": False},
        "names_file": {"type": "path"},
        "estimate_data": {"type": "bool", "default": False},
    }
    for connection in providers.values():
        spec.update(connection)
    return spec


def run_export(module, exporters, errors):
    """Export the twin of ``module.params['provider']`` with ``exporters[provider](params, twin)`` (which returns
    ``(api_stats, secrets)``), write it unless it is unchanged (or in check mode) and exit the module. ``errors``
    are the exception classes that fail the module cleanly."""
    params = module.params
    problems = []
    if params["names_file"] and not params["pseudonymise"]:
        problems.append("names_file is the table of pseudonyms: it needs pseudonymise=true")
    if params["estimate_data"] and params["provider"] != "triton":
        problems.append("estimate_data applies to provider=triton only (VMAPI's migration estimate), got provider=%s"
                        % params["provider"])
    for option in ("dest", "names_file"):
        path = params.get(option)
        if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            problems.append("%s: the directory of %s does not exist" % (option, path))
        if path and os.path.isdir(path):
            problems.append("%s: %s is a directory; give a file name" % (option, path))
    if params["names_file"] and os.path.abspath(params["names_file"]) == os.path.abspath(params["dest"]):
        problems.append("names_file must not be dest: the table of pseudonyms never goes into the twin")
    if problems:
        module.fail_json(msg="; ".join(problems))
    twin = Twin(params["provider"], Pseudonyms(params["pseudonymise"]))
    stats = {}
    caught = (TwinError,) + tuple(errors)     # the exporters' own errors (each vendor's client error)
    try:
        stats, secrets = exporters[params["provider"]](params, twin)
        text = render(twin)
        check_no_secret(text, secrets)
        changed, before = write_if_changed(params["dest"], text, module.check_mode)
        names_changed = False
        if params["names_file"]:
            names_changed, _old = write_if_changed(params["names_file"], render_mapping(twin.pseudonyms.mapping()),
                                                   module.check_mode)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    except caught as exc:  # pylint: disable=catching-non-exception
        module.fail_json(msg=getattr(exc, "msg", None) or str(exc), api_stats=stats)
    result = {"changed": changed or names_changed, "dest": params["dest"], "counts": twin.counts(),
              "unknown": twin.unknown, "not_exported": twin.not_exported, "notes": twin.notes,
              "pseudonymised": twin.pseudonyms.enabled, "api_stats": stats, "source": twin.source}
    if params["names_file"]:
        result["names_file"] = params["names_file"]
    if module._diff and changed:
        result["diff"] = {"before": before or "", "after": text, "before_header": params["dest"],
                          "after_header": params["dest"]}
    module.exit_json(**result)
