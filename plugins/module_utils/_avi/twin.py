# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

The twin of an Avi controller, read-only: what placement, evacuation and upgrades depend on, as a lab topology.

Reads (documented vendor paths and fields, research-avi.md Q4, Q6, Q8): ``GET /api/initial-data`` (version,
build), ``/api/cluster`` (nodes), ``/api/systemconfiguration`` (``docker_mode``: the deployment type), the
collections ``/api/cloud``, ``/api/vimgrhostruntime`` (hosts), ``/api/serviceenginegroup`` (the settings placement
obeys), ``/api/serviceengine`` (host, group, enable state) and ``/api/serviceengine-inventory`` (runtime version and
oper state), ``/api/virtualservice-inventory`` (placement per VIP, both per-version shapes), and from 18.2.6
``/api/image`` (the images an upgrade can use).

Never exported: the credentials, management and VIP addresses, services and ports, pools, certificates,
policies, any VS content beyond its group, enable state and placement. Unknown (the vendor exposes no such
field): the number of SEs a host can run (research Q6.2), hence null.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.client import AviError, AviNotFound, ref_uuid
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.placement import vs_from_inventory

HA_LEGACY = "HA_MODE_LEGACY_ACTIVE_STANDBY"
# SE group settings placement, evacuation and upgrades obey (sw:ServiceEngineGroup; research Q5.1, Q6.1)
SEG_SETTINGS = ("ha_mode", "algo", "min_scaleout_per_vs", "max_scaleout_per_vs", "max_se", "min_se", "max_vs_per_se",
                "buffer_se", "vs_scalein_timeout", "vs_scaleout_timeout", "max_cpu_usage", "vcpus_per_se",
                "memory_per_se", "disk_per_se")
# SE group settings that matter to placement but that the lab does not model: noted when set
SEG_NOT_MODELLED = ("vs_host_redundancy", "auto_rebalance", "distribute_load_active_standby", "se_deprovision_delay",
                    "vcenter_hosts", "vcenter_clusters", "host_attribute_key")
SERVING = ("OPER_UP", "OPER_UPGRADING", "OPER_PARTITIONED")
FLEXIBLE_FROM = (18, 2, 6)


def _version_tuple(text):
    out = []
    for part in str(text or "").split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        if not digits:
            break
        out.append(int(digits))
    return tuple(out)


def _state(value):
    return value.get("state") if isinstance(value, dict) else value


def _package(image):
    """The package type of an image, from the extension of its ``controller_info.path`` (the lab's and the
    vendor's upload paths keep the file name; that the vendor always does is unconfirmed: research Q4.1), or None."""
    path = str(((image.get("controller_info") or {}).get("path")) or "")
    if path.endswith(".tgz"):
        return "controller_docker.tgz"
    if path.endswith(".pkg"):
        return "controller.pkg"
    return None


def export_avi(client, twin):
    """Fill ``twin`` (a ``_common.twin.Twin``) from the controller behind ``client``; returns nothing."""
    p = twin.pseudonyms
    initial = client.get("/api/initial-data") or {}
    version_info = initial.get("version") or {}
    version = str(version_info.get("Version") or client.controller_version or "")
    build = version_info.get("build")
    controller = {"version": version, "build": str(build) if build is not None else None, "username": None,
                  "password": None}
    twin.leave_out("credentials (the rehearsal's lab makes its own)")
    if build is None:
        twin.mark_unknown("controller.build", "not in the controller's version answer")

    # deployment type: SystemConfiguration.docker_mode (17.2.1+; its meaning is inferred: research Q4.3)
    try:
        system = client.get("systemconfiguration") or {}
        docker_mode = system.get("docker_mode")
    except AviNotFound:
        docker_mode = None
    if isinstance(docker_mode, bool):
        controller["deployment"] = "bare_metal" if docker_mode else "vm"
    else:
        controller["deployment"] = None
        twin.mark_unknown("controller.deployment", "GET /api/systemconfiguration gave no docker_mode",
                          "vm (controller.pkg images)")

    try:
        cluster = client.get("cluster") or {}
        nodes = cluster.get("nodes") or []
        controller["nodes"] = len(nodes) or None
        if not nodes:
            twin.mark_unknown("controller.nodes", "GET /api/cluster listed no node", "3 nodes")
    except AviError:
        controller["nodes"] = None
        twin.mark_unknown("controller.nodes", "GET /api/cluster could not be read", "3 nodes")
    twin.leave_out("controller node names and addresses (the twin keeps their number)")
    twin.topology["controller"] = controller

    clouds = dict((c["uuid"], c) for c in client.get_all("cloud"))
    hosts = dict((h["uuid"], h) for h in client.get_all("vimgrhostruntime"))
    groups = dict((g["uuid"], g) for g in client.get_all("serviceenginegroup"))
    se_objects = dict((s["uuid"], s) for s in client.get_all("serviceengine"))
    se_runtime = {}
    for item in client.get_all("serviceengine-inventory"):
        config = item.get("config") or {}
        uuid = item.get("uuid") or config.get("uuid")
        se_runtime[uuid] = item.get("runtime") or {}
    vss = [vs_from_inventory(item) for item in client.get_all("virtualservice-inventory")]
    vs_enabled = {}
    for vs in client.get_all("virtualservice"):
        vs_enabled[vs.get("uuid")] = vs.get("enabled", True)

    def cloud_name(uuid):
        cloud = clouds.get(uuid)
        return p.name("cloud", cloud["name"]) if cloud else None

    def host_name(uuid):
        host = hosts.get(uuid)
        return p.name("host", host["name"]) if host else None

    # clouds and their hosts
    out_clouds = []
    for cloud in sorted(clouds.values(), key=lambda c: c.get("name") or ""):
        entry = {"name": cloud_name(cloud["uuid"]), "vtype": cloud.get("vtype"), "hosts": []}
        for host in sorted(hosts.values(), key=lambda h: h.get("name") or ""):
            if ref_uuid(host.get("cloud_ref")) != cloud["uuid"]:
                continue
            entry["hosts"].append({"name": host_name(host["uuid"]), "num_cpu_cores": host.get("num_cpu_cores"),
                                   "mem": host.get("mem"), "maintenance_mode": bool(host.get("maintenance_mode")),
                                   "max_se_on_host": None})
        out_clouds.append(entry)
    if hosts:
        twin.mark_unknown("clouds[*].hosts[*].max_se_on_host",
                          "no vendor field caps the SEs a host can run (VIMgrHostRuntime, ServiceEngineGroup and "
                          "Cloud have none: research Q6.2); whether a host has room is unknown to any client",
                          "no host limit (set assume.max_se_on_host to model one)")
    twin.note("Whether a cloud can create SEs is not a vendor field: the lab derives it from the cloud type "
              "(CLOUD_NONE cannot), its assumption.")
    twin.topology["clouds"] = out_clouds

    # SE groups, their SEs
    out_groups = []
    placed_names = {}
    for group in sorted(groups.values(), key=lambda g: g.get("name") or ""):
        name = p.name("segroup", group["name"])
        entry = {"name": name, "cloud": cloud_name(ref_uuid(group.get("cloud_ref")))}
        for key in SEG_SETTINGS:
            if group.get(key) is not None:
                entry[key] = group[key]
        prefix = group.get("se_name_prefix")
        if prefix:
            entry["se_name_prefix"] = p.name("seprefix", prefix)
        for key in SEG_NOT_MODELLED:
            if group.get(key) not in (None, False, [], {}, ""):
                twin.note("SE group %s sets %s, which the lab's placement does not model" % (name, key))
        entry["service_engines"] = []
        for se in sorted(se_objects.values(), key=lambda s: s.get("name") or ""):
            if ref_uuid(se.get("se_group_ref")) != group["uuid"]:
                continue
            runtime = se_runtime.get(se["uuid"]) or {}
            se_name = p.name("se", se["name"])
            placed_names[se["uuid"]] = se_name
            se_entry = {"name": se_name, "host": host_name(ref_uuid(se.get("host_ref"))),
                        "enable_state": se.get("enable_state") or "SE_STATE_ENABLED",
                        "version": str(runtime.get("version") or version)}
            if se_entry["host"] is None:
                se_entry.pop("host")
                twin.note("SE %s has no host the controller names: the lab places it on a host of its cloud" % se_name)
            oper = _state(runtime.get("oper_status"))
            serving_states = ("SE_STATE_ENABLED", "SE_STATE_DISABLED_FOR_PLACEMENT")
            if oper and oper not in SERVING and se_entry["enable_state"] in serving_states:
                twin.note("SE %s is %s at the source; the lab starts it up" % (se_name, oper))
            if runtime.get("migrate_state") == "SE_MIGRATE_STATE_STARTED":
                twin.note("SE %s was being evacuated at export; the twin starts idle" % se_name)
            entry["service_engines"].append(se_entry)
        out_groups.append(entry)
    twin.topology["se_groups"] = out_groups
    twin.leave_out("SE management addresses")

    # virtual services and their placement
    out_vss = []
    for vs in sorted(vss, key=lambda v: v.get("name") or ""):
        name = p.name("vs", vs["name"])
        group = groups.get(vs["group_uuid"])
        if group is None:
            twin.note("VS %s has no SE group the controller names: left out" % name)
            continue
        vip_ids = sorted(vs["vips"])
        entries = vs["vips"].get(vip_ids[0], []) if vip_ids else []
        if len(vip_ids) > 1:
            twin.note("VS %s has %d VIPs; the lab models one: the twin keeps the placement of VIP %s"
                      % (name, len(vip_ids), vip_ids[0]))
        # primary (legacy: the active SE) first, then the rest as the controller lists them
        ordered = sorted(entries, key=lambda e: (not e["primary"], e["standby"]))
        ses = [placed_names[e["se_uuid"]] for e in ordered if e["se_uuid"] in placed_names]
        enabled = vs_enabled.get(vs["uuid"], vs.get("enabled", True))
        out = {"name": name, "se_group": p.name("segroup", group["name"]), "ses": ses}
        if enabled is False:
            out["enabled"] = False
        if not ses and enabled is not False:
            twin.note("VS %s is placed on no SE at the source" % name)
        out_vss.append(out)
    twin.topology["virtual_services"] = out_vss
    twin.leave_out("VIP addresses, services and ports, pools, certificates, policies and every other VS setting")

    # images (flexible upgrade API, 18.2.6+)
    images = []
    if _version_tuple(version) >= FLEXIBLE_FROM:
        for image in sorted(client.get_all("image"), key=lambda i: i.get("name") or ""):
            if image.get("type", "IMAGE_TYPE_SYSTEM") != "IMAGE_TYPE_SYSTEM":
                twin.note("image %s (%s) left out: the lab models system images only"
                          % (image.get("name"), image.get("type")))
                continue
            build_info = (image.get("controller_info") or {}).get("build") or {}
            img_version = str(build_info.get("version") or "")
            if not img_version:
                continue
            if img_version == version and str(build_info.get("build_no")) == str(build):
                continue   # the running version's image: the lab always adds it
            state = _state(image.get("img_state"))
            if state and state != "IMAGE_FSM_COMPLETED":
                twin.note("image %s is %s at the source: left out" % (image.get("name"), state))
                continue
            entry = {"version": img_version, "build": build_info.get("build_no"),
                     "min_version": build_info.get("min_version") or None, "name": image.get("name"),
                     "package": _package(image)}
            if entry["package"] is None:
                twin.mark_unknown("images[*].package", "the image's controller_info.path names no package file",
                                  "the package the controller's deployment takes")
            images.append(entry)
    else:
        twin.note("controller %s predates the flexible upgrade API (18.2.6): its images are files on the "
                  "controller, not listed by the API; the twin has none" % version)
    twin.topology["images"] = images

    twin.source = {"vendor": "Avi Vantage / NSX ALB", "version": version, "build": controller["build"],
                   "api_version": client.api_version, "tenant": client.tenant}
    twin.note("Objects of tenant %s only (the session's tenant)." % client.tenant)


def avi_twin(params, twin):
    """The ``twin_export`` entry point for ``provider: avi``: one session (``avi_credentials``, then the
    ``AVI_*`` environment variables), the export, then ``(api_stats, secrets)``: the statistics of the session and
    the values that must never appear in the twin (labelled)."""
    from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.client import client_from_params
    from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.spec import resolve_connection
    conn = resolve_connection({"avi_credentials": params.get("avi_credentials") or {}})
    client = client_from_params({"avi_credentials": params.get("avi_credentials") or {}})
    with client:
        export_avi(client, twin)
    return dict(client.stats), [("password", conn.get("password"))]
