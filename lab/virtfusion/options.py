"""The options of a live migration's start, by their CLI names (``vfcli-ctrl ... start --max-downtime=``) and
their REST names (``maxDowntime``), and their validation [vendor: seed + REST docs]; shared by vfcli-ctrl's calls
and the REST API (``lab.virtfusion.service``)."""

# live start options: name -> (REST field, kind, (min, max) or None, default)  [vendor: seed + REST docs]
LIVE_OPTIONS = {
    "force_offline": ("forceOffline", bool, None, False),
    "xfer_speed": ("xferSpeed", int, (10, 8796093022206), None),
    "max_downtime": ("maxDowntime", int, (5, 9000), 300),
    "abort_after": ("abortAfter", int, (60, 86400), None),
    "disable_compression": ("disableCompression", bool, None, False),
    "disable_auto_converge": ("disableAutoConverge", bool, None, False),
    "auto_converge_initial": ("autoConvergeInitial", int, (1, 70), 20),
    "auto_converge_increment": ("autoConvergeIncrement", int, (1, 15), 10),
    "auto_post_copy": ("autoPostCopy", bool, None, False),
    "disable_filter_check": ("disableFilterCheck", bool, None, False),
}
CLI_NAMES = {k: "--" + k.replace("_", "-") for k in LIVE_OPTIONS}


def validate_live_options(raw, names="cli"):
    """raw: option name -> value (CLI strings, or REST JSON values). Return (options, errors).

    ``names`` picks how errors name the options: "cli" (--max-downtime) or "rest" (maxDowntime)."""
    opts, errors = {}, []
    for key, (rest, kind, rng, default) in LIVE_OPTIONS.items():
        label = CLI_NAMES[key] if names == "cli" else rest
        if key not in raw or raw[key] is None:
            opts[key] = default
            continue
        v = raw[key]
        if kind is bool:
            if isinstance(v, bool):
                opts[key] = v
            elif names == "cli" and v in ("", True):
                opts[key] = True
            else:
                errors.append(f"{label} is a flag (true/false), got {v!r}")
            continue
        if isinstance(v, bool) or not str(v).strip().isdigit():
            errors.append(f"{label} must be a whole number from {rng[0]} to {rng[1]}, got {v!r}")
            continue
        n = int(str(v).strip())
        if not rng[0] <= n <= rng[1]:
            errors.append(f"{label} must be from {rng[0]} to {rng[1]}, got {n}")
            continue
        opts[key] = n
    if opts.get("disable_auto_converge"):
        for key in ("auto_converge_initial", "auto_converge_increment"):
            if raw.get(key) is not None:
                label = CLI_NAMES[key] if names == "cli" else LIVE_OPTIONS[key][0]
                dis = CLI_NAMES["disable_auto_converge"] if names == "cli" else "disableAutoConverge"
                errors.append(f"{label} applies only while auto-converge is enabled; drop it or {dis}")
    return opts, errors
