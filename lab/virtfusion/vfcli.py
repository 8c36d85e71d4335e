"""vfcli-ctrl: the lab's implementation of VirtFusion's control-server CLI (live migration commands).

Runs inside an SSH session on the lab's control server (the sshd puts a wrapper on the PATH). It
holds no state: every command is an HTTPS call to the lab's VirtFusion plane (lab CA, a token from
the config file), so a dropped SSH connection never stops a migration and re-running ``start``
re-attaches. Standard library only (it starts with ``python -S``).

    vfcli-ctrl server:migrate-live start --dst=ID --server=ID [options]
    vfcli-ctrl server:migrate-live cancel|abort|last-status|last-debug|data-success-force|cancel-force --server=ID
    vfcli-ctrl server:migrate-live servers --src=ID [--json]

Exit status: 0 when the command (and, attached, the migration) succeeded, 1 otherwise, 2 for usage
[lab assumption: the vendor documents none].

What it prints follows the plane's output mode (``virtfusion.output``, ``/_lab/output``): ``documented``
(the default) prints only what the vendor documents: the status words (``last-status``), the steps in the
console, ``{"success", "errors"}`` for ``--json`` (the shape the public community script reads) and the
``servers`` list; ``rich`` adds the lab's JSON (the migration object, its steps, QEMU's numbers)
[lab assumption].
"""
import argparse
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request

GROUP = "server:migrate-live"
COMMANDS = ("start", "cancel", "abort", "last-status", "last-debug", "servers", "data-success-force", "cancel-force")
VALUE_OPTIONS = ("xfer-speed", "max-downtime", "abort-after", "auto-converge-initial", "auto-converge-increment")
FLAG_OPTIONS = ("force-offline", "disable-compression", "disable-auto-converge", "auto-post-copy",
                "disable-filter-check")
POLL = 0.1


class CliError(Exception):
    def __init__(self, errors, code=1):
        self.errors = errors if isinstance(errors, list) else [str(errors)]
        super().__init__("; ".join(self.errors))
        self.code = code


class Client:
    def __init__(self, config_path):
        try:
            with open(config_path, encoding="utf-8") as fh:
                cfg = json.load(fh)
        except (OSError, ValueError) as e:
            raise CliError(f"cannot read the control server's configuration {config_path}: {e}") from None
        self.url = cfg["url"].rstrip("/")
        self.token = cfg["token"]
        self.ctx = ssl.create_default_context(cafile=cfg["ca_path"])

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.url}/_vfcli/{path}", data=data, method=method,
                                     headers={"Authorization": f"Bearer {self.token}",
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=60) as r:
                return json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            try:
                doc = json.loads(e.read() or b"{}")
            except ValueError:
                doc = {}
            raise CliError(doc.get("errors") or [doc.get("message") or f"HTTP {e.code}"]) from None
        except (urllib.error.URLError, OSError) as e:
            raise CliError(f"cannot reach the VirtFusion control service at {self.url}: "
                           f"{getattr(e, 'reason', e)}") from None


def parser():
    p = argparse.ArgumentParser(prog="vfcli-ctrl", add_help=True,
                                description="VirtFusion control-server CLI (fleetops lab): live migration")
    p.add_argument("--config", required=True, help=argparse.SUPPRESS)
    p.add_argument("group", nargs="?", help=GROUP)
    p.add_argument("command", nargs="?", help=" | ".join(COMMANDS))
    p.add_argument("--server")
    p.add_argument("--dst")
    p.add_argument("--src")
    for name in VALUE_OPTIONS:
        p.add_argument(f"--{name}", dest=name.replace("-", "_"))
    for name in FLAG_OPTIONS:
        p.add_argument(f"--{name}", dest=name.replace("-", "_"), action="store_true")
    p.add_argument("--detach", action="store_true")
    p.add_argument("--json", action="store_true")
    return p


def out_json(doc):
    print(json.dumps(doc, indent=2))
    sys.stdout.flush()


def mib(n):
    return f"{(n or 0) / 1048576:.1f} MiB"


def step_lines(view):
    """[(step key, status, text)] of the steps that started."""
    lines = []
    for st in view["steps"]:
        if st["status"] == "pending":
            continue
        text = f"[{st['status']}]".ljust(14) + st["name"]
        if st["key"] == "transfer" and st["status"] == "in-progress":
            prog = (view.get("qemu") or {}).get("progress") or {}
            if prog.get("totalBytes"):
                done = (prog.get("totalBytes") or 0) - (prog.get("remainingBytes") or 0)
                pct = int(100 * done / prog["totalBytes"]) if prog["totalBytes"] else 0
                text += (f"  {pct}% ({mib(prog.get('transferredBytes'))} sent, {mib(prog.get('remainingBytes'))} "
                         f"remaining), dirty {((prog.get('dirtyPagesRate') or 0) * 4096) / 1048576:.1f} MiB/s")
                if prog.get("throttlePercent"):
                    text += f", CPU throttle {prog['throttlePercent']}%"
        elif st["message"] and st["status"] in ("failed", "complete"):
            text += f": {st['message']}"
        lines.append((st["key"], st["status"], text))
    return lines


def headline(view):
    return (f"Live migration of server {view['serverId']} ({view['serverName']}): hypervisor {view['sourceId']} -> "
            f"{view['destinationId']}")


def summary(view):
    q = view.get("qemu") or {}
    if view["status"] == "complete":
        extra = ""
        if q.get("downtimeMs") is not None:
            extra = (f": downtime {q['downtimeMs']} ms, {mib(q.get('transferredBytes'))} transferred in "
                     f"{(q.get('totalTimeMs') or 0) / 1000:.2f} s (QEMU)")
        if view.get("dataLost"):
            extra += " - WARNING: the memory state was not transferred (forced data status); booted from disk"
        return f"Migration complete{extra}"
    return (f"Migration failed: {'; '.join(view['errors']) or 'unknown error'}. Run the same command to try again, or "
            f"exit it with: vfcli-ctrl {GROUP} cancel --server={view['serverId']}")


def follow(client, view, as_json, rich=False):
    """Stay attached until the migration ends; redraw the steps (in place on a terminal)."""
    sid = view["serverId"]
    tty = sys.stdout.isatty() and not as_json
    drawn = 0
    seen = set()
    last_progress = 0.0
    if not as_json:
        print(headline(view))
    while True:
        if not as_json:
            lines = step_lines(view)
            if tty:   # redraw the step list in place
                if drawn:
                    sys.stdout.write(f"\x1b[{drawn}F\x1b[J")
                sys.stdout.write("\n".join(text for _k, _s, text in lines) + "\n")
                drawn = len(lines)
            else:     # a log: each step's new status once, transfer progress every few seconds
                for key, status, text in lines:
                    if (key, status) not in seen:
                        print(text)
                        seen.add((key, status))
                        if key == "transfer" and status == "in-progress":
                            last_progress = time.monotonic()
                    elif key == "transfer" and status == "in-progress" and \
                            time.monotonic() - last_progress >= 2 and "%" in text:
                        print(text)
                        last_progress = time.monotonic()
            sys.stdout.flush()
        if view["status"] != "in-progress":
            break
        time.sleep(POLL)
        view = client.call("GET", f"live/{sid}")["migration"]
    ok = view["status"] == "complete"
    if as_json:
        doc = {"success": ok, "errors": [] if ok else view["errors"]}
        if rich:
            doc.update(status=view["status"], migration=view)
        out_json(doc)
    else:
        print(summary(view) if rich else ("Migration complete" if ok else summary(dict(view, qemu=None))))
    return 0 if ok else 1


def cmd_start(client, a):
    if a.server is None:
        raise CliError("--server=SERVER_ID is required", code=2)
    options = {k.replace("-", "_"): getattr(a, k.replace("-", "_")) for k in VALUE_OPTIONS
               if getattr(a, k.replace("-", "_")) is not None}
    options.update({k.replace("-", "_"): True for k in FLAG_OPTIONS if getattr(a, k.replace("-", "_"))})
    res = client.call("POST", "live/start", {"server": a.server, "dst": a.dst, "options": options})
    view = res["migration"]
    rich = res.get("output") == "rich"
    if a.detach:
        if a.json:
            doc = {"success": True, "errors": []}
            if rich:
                doc.update(status=view["status"], detached=True, action=res["action"], migration=view)
            out_json(doc)
        else:
            verb = {"started": "started", "attached": "is already running", "resumed": "restarted"}[res["action"]]
            print(f"{headline(view)}: {verb} (detached). Follow it with: vfcli-ctrl {GROUP} last-status "
                  f"--server={view['serverId']}")
        return 0
    if res["action"] == "attached" and not a.json:
        print("Re-attaching to the running migration.")
    if res["action"] == "resumed" and not a.json:
        print(f"Trying the migration again (attempt {view['attempts']}).")
    return follow(client, view, a.json, rich)


def need_server(a):
    if a.server is None:
        raise CliError("--server=SERVER_ID is required", code=2)
    return a.server


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    a = parser().parse_args(argv)
    if a.group != GROUP or a.command not in COMMANDS:
        print(f"usage: vfcli-ctrl {GROUP} {{{','.join(COMMANDS)}}} [--server=ID] [--dst=ID] [--src=ID] [options]",
              file=sys.stderr)
        if a.group is not None and a.group != GROUP:
            print(f"vfcli-ctrl: unknown command {a.group!r} (this lab implements {GROUP})", file=sys.stderr)
        elif a.command is not None:
            print(f"vfcli-ctrl: unknown {GROUP} command {a.command!r}", file=sys.stderr)
        return 2
    try:
        client = Client(a.config)
        c = a.command
        if c == "start":
            return cmd_start(client, a)
        if c == "servers":
            if a.src is None:
                raise CliError("--src=SOURCE_HYPERVISOR_ID is required", code=2)
            servers = client.call("GET", f"servers?src={urllib.request.quote(str(a.src))}")["servers"]
            if a.json:
                out_json({"servers": servers})
            else:
                print(",".join(str(s["id"]) for s in servers))
            return 0
        sid = urllib.request.quote(str(need_server(a)))
        if c == "last-status":
            res = client.call("GET", f"live/{sid}?command=last-status")
            view = res["migration"]
            if a.json and res.get("output") == "rich":
                out_json({"status": view["status"], "cancelled": view["cancelled"], "migration": view})
            else:
                print(view["status"])
                if view["cancelled"]:
                    print("(the migration was cancelled)")
            return 0
        if c == "last-debug":
            doc = client.call("GET", f"live/{sid}/debug")
            if a.json and doc.pop("output", None) == "rich":
                out_json(doc)
            else:
                print("\n".join(doc["debug"]))
            return 0
        res = client.call("POST", f"live/{sid}/{c}")
        view = res["migration"]
        messages = {
            "cancel": f"Migration of server {view['serverId']} cancelled; it stays on hypervisor {view['sourceId']}.",
            "cancel-force": f"Migration of server {view['serverId']} cancelled (forced, checks skipped).",
            "abort": f"Migration of server {view['serverId']} aborted; it is now failed. Exit it with: vfcli-ctrl "
                     f"{GROUP} cancel --server={view['serverId']}",
            "data-success-force": f"Data transfer of server {view['serverId']} marked as complete. Run start to "
                                  "complete the migration.",
        }
        if a.json:
            doc = {"success": True, "errors": []}
            if res.get("output") == "rich":
                doc.update(status=view["status"], migration=view)
            out_json(doc)
        else:
            print(messages[c])
        return 0
    except CliError as e:
        if a.json:
            out_json({"success": False, "errors": e.errors})
        else:
            for line in e.errors:
                print(f"Error: {line}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        print("\nDetached; the migration goes on. Re-attach with the same command.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os._exit(1)


if __name__ == "__main__":
    sys.exit(main())
