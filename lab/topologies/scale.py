"""Generate the scale benchmark's lab topologies (``make bench-scale``) on the fly: sizes too large to
commit as YAML.

    python lab/topologies/scale.py avi --vs 10000 > build/bench-scale/avi-10000.yml
    python lab/topologies/scale.py triton --instances 2000 > build/bench-scale/triton-2000.yml

Avi: ``--vs`` virtual services in SE groups of ``--ses`` SEs (default 10) holding ``--vs-per-group``
VSs each (default 100: 1,000 VSs are 10 groups, 10,000 are 100), one ESX host per group. N+M groups
(HA_MODE_SHARED, PACKED); every VS is placed on one SE of its group, every fourth is scaled out to a
second one, so an SE holds 10 or 15 placements (``g0001-se-01`` 15) and ``max_vs_per_se`` 20 lets the others absorb it; the
groups are at ``max_se`` (no SE creation). Controller 22.1.6 with a 22.1.7 image (the upgrade plan).
SE ``g0001-se-01`` is the one the benchmark evacuates.

Triton: ``--instances`` instances spread evenly over ``--servers`` compute nodes (default one per ten
instances: 2,000 instances are on 200 nodes) with room to spare, small datasets (seeding writes each).
Node ``cn-0001`` is the one the benchmark evacuates.

Names sort in the order they are generated (zero-padded), so the lab's name-sorted pages are stable.
"""
import argparse
import sys

import yaml

PASSWORD = "Sc4le-Bench#Lab"


def avi(vs=1000, ses=10, vs_per_group=100):
    groups = max(1, -(-vs // vs_per_group))
    hosts, se_groups, vss = [], [], []
    for g in range(1, groups + 1):
        host = f"esx-{g:04d}"
        hosts.append({"name": host, "num_cpu_cores": 64, "mem": 524288, "max_se_on_host": ses})
        names = [f"g{g:04d}-se-{s:02d}" for s in range(1, ses + 1)]
        se_groups.append({"name": f"sg-{g:04d}", "ha_mode": "HA_MODE_SHARED", "algo": "PLACEMENT_ALGO_PACKED",
                          "max_se": ses, "max_vs_per_se": 20, "buffer_se": 1, "se_name_prefix": f"g{g:04d}",
                          "service_engines": [{"name": n, "host": host} for n in names]})
        count = min(vs_per_group, vs - (g - 1) * vs_per_group)
        for k in range(count):
            placed = [names[k % ses]] + ([names[(k + 1) % ses]] if k % 4 == 3 and ses > 1 else [])
            vss.append({"name": f"g{g:04d}-vs-{k + 1:04d}", "se_group": f"sg-{g:04d}", "ses": placed})
    return {
        "controller": {"version": "22.1.6", "build": "9191", "username": "admin", "password": PASSWORD,
                       "api_idle_timeout": 900, "deployment": "vm", "nodes": 3},
        "time_scale": 0.01,
        "images": [{"version": "22.1.7", "build": 9300, "package": "controller.pkg", "min_version": "22.1.1"}],
        "clouds": [{"name": "Default-Cloud", "vtype": "CLOUD_VCENTER", "hosts": hosts}],
        "se_groups": se_groups,
        "virtual_services": vss,
    }


def triton(instances=200, servers=None):
    servers = servers or max(2, instances // 10)
    nodes = [{"name": f"cn-{s:04d}", "ram": 262144, "disk": 8388608} for s in range(1, servers + 1)]
    vms = [{"name": f"vm-{i + 1:05d}", "owner": "ops", "server": nodes[i % servers]["name"],
            "ram": 1024 * (1 + i % 4), "disk": 10240, "dataset": {"files": 1, "file_size": 1024, "seed": i + 1}}
           for i in range(instances)]
    return {
        "controller": {"username": "admin", "password": PASSWORD},
        "time_scale": 0.01,
        "triton": {"datacenter": "scale-1", "user_migration_allowed": True, "accounts": [{"login": "ops"}],
                   "servers": nodes, "instances": vms},
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="plane", required=True)
    a = sub.add_parser("avi", help="SE groups, SEs and virtual services")
    a.add_argument("--vs", type=int, default=1000)
    a.add_argument("--ses", type=int, default=10, help="SEs per group")
    a.add_argument("--vs-per-group", type=int, default=100)
    t = sub.add_parser("triton", help="compute nodes and instances")
    t.add_argument("--instances", type=int, default=200)
    t.add_argument("--servers", type=int, default=None, help="compute nodes (default: instances / 10)")
    args = p.parse_args(argv)
    if args.plane == "avi":
        topo, what = avi(args.vs, args.ses, args.vs_per_group), f"avi --vs {args.vs}"
    else:
        topo, what = triton(args.instances, args.servers), f"triton --instances {args.instances}"
    sys.stdout.write(f"# written by lab/topologies/scale.py {what} (do not edit by hand)\n")
    yaml.dump(topo, sys.stdout, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False,
              default_flow_style=None, width=120)
    return 0


if __name__ == "__main__":
    sys.exit(main())
