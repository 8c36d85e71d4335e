"""Write lab/topologies/bench_upgrade.yml: the upgrade benchmark's topology.

    python lab/topologies/bench_upgrade.py [--groups 8] [--ses 4] > lab/topologies/bench_upgrade.yml

8 N+M (HA_MODE_SHARED) SE groups of 4 SEs. In each group every SE hosts one virtual service of its own
(placed on that SE only: the vendor's own upgrade disrupts it) and every pair of SEs shares one VS
scaled out to both (no outage); max_vs_per_se leaves room for one more placement per SE, so a rolling
upgrade can first scale each single-SE VS out to another SE of its group. max_se equals the SEs
present (no SE creation: 300 lab seconds each would dominate the benchmark).
"""
import argparse
import sys

import yaml


def topology(groups=8, ses=4):
    hosts = [{"name": f"esx-{i + 1:02d}", "num_cpu_cores": 64, "mem": 524288, "max_se_on_host": ses}
             for i in range(groups)]
    se_groups, vss = [], []
    for g in range(1, groups + 1):
        names = [f"g{g}-se-{s:02d}" for s in range(1, ses + 1)]
        se_groups.append({"name": f"sg-bench-{g}", "ha_mode": "HA_MODE_SHARED", "algo": "PLACEMENT_ALGO_PACKED",
                          "max_se": ses, "max_vs_per_se": 3, "buffer_se": 1, "se_name_prefix": f"g{g}",
                          "service_engines": [{"name": n, "host": hosts[g - 1]["name"]} for n in names]})
        for i, n in enumerate(names):
            vss.append({"name": f"g{g}-single-{i + 1:02d}", "se_group": f"sg-bench-{g}", "ses": [n]})
        for i in range(0, ses - 1, 2):
            vss.append({"name": f"g{g}-scaled-{i // 2 + 1:02d}", "se_group": f"sg-bench-{g}",
                        "ses": [names[i], names[i + 1]]})
    return {
        "controller": {"version": "22.1.6", "build": "9191", "username": "admin", "password": "B3nch-Upgr4de#Lab",
                       "api_idle_timeout": 900, "deployment": "vm", "nodes": 3},
        "time_scale": 0.01,
        "timing": {"login": 0, "se_create": 300, "scaleout": 20, "scalein": 10, "se_disable_settle": 2,
                   "se_disable_parallel": 1},
        "upgrade_timing": {"prechecks": 2, "controller_install": 30, "controller_reboot": 20, "cluster_form": 10,
                           "se_upgrade": 60, "image_upload": 5, "reboot_drop_rate": 0.5},
        "images": [{"version": "22.1.7", "build": 9300, "package": "controller.pkg", "min_version": "22.1.1"}],
        "clouds": [{"name": "Default-Cloud", "vtype": "CLOUD_VCENTER", "hosts": hosts}],
        "se_groups": se_groups,
        "virtual_services": vss,
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--groups", type=int, default=8)
    p.add_argument("--ses", type=int, default=4, help="SEs per group")
    a = p.parse_args(argv)
    sys.stdout.write(f"# bench_upgrade: written by lab/topologies/bench_upgrade.py --groups {a.groups} --ses {a.ses}"
                     " (do not edit by hand).\n")
    for line in (__doc__.split("\n\n")[2]).splitlines():
        sys.stdout.write(f"# {line}\n")
    yaml.safe_dump(topology(a.groups, a.ses), sys.stdout, sort_keys=False, default_flow_style=None, width=110)
    return 0


if __name__ == "__main__":
    sys.exit(main())
