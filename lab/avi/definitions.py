"""The vendor's definitions of what the Avi plane answers, per API version, and a validator.

``lab/avi/vendor/`` holds them (``SOURCES.md`` says where each comes from):

- ``swagger/<branch>/<Object>.json``: the Swagger 2.0 files of vmware/alb-sdk, unchanged, for the
  newest 17.2, 20.1, 22.1 and 30.2 branches. Enums are in the descriptions ("Enum options - A, B."),
  and so is the version a field came with ("Field introduced in 21.1.3.").
- ``events.json``: the event log's definitions (``EventLog`` and the event details the lab emits) from
  each branch's ``swagger/Alert.json``, which is too large to copy whole, and the logs API's answer.
- ``supplement.json``: definitions no Swagger file of the branch publishes (runtime summaries, the
  inventories before 22.1, the 17.x upgrade status, ...), each transcribed from the vendor source its
  ``x-source`` names, or borrowed from another branch's Swagger (``x-borrow``), or, where the vendor
  publishes nothing, the fields its own clients read (``x-source`` says so).

:class:`Definitions` loads what applies to one controller version (the branch of its generation;
fields introduced after that version are unknown to it). :meth:`Definitions.check` walks a document
and lists every unknown field, type mismatch and enum mismatch.
"""
import json
import os
import re

from lab.avi.upgrade.package import vkey

VENDOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vendor")
# the alb-sdk branch whose definitions stand for each API generation: (first version, branch)
BRANCHES = (((0,), "17.2.18"), ((18, 2), "20.1.9"), ((22, 1), "22.1.7"), ((30,), "30.2.1"))
ENUM = re.compile(r"Enum options - ([A-Z0-9_, ]+?)\.(?:\s|$)")
INTRODUCED = re.compile(r"Field introduced in ([0-9][0-9.]*[0-9])")
JSON_TYPES = {"string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
              "array": (list,), "object": (dict,)}


def branch_for(version):
    """The alb-sdk branch whose definitions apply to controller ``version``."""
    key = vkey(version)
    return [branch for first, branch in BRANCHES if key >= first][-1]


def _swagger_definitions(branch):
    out, where = {}, {}
    folder = os.path.join(VENDOR, "swagger", branch)
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(folder, name), encoding="utf-8") as fh:
            doc = json.load(fh)
        for key, definition in (doc.get("definitions") or {}).items():
            # a definition that several files carry is the same object; the file named after it wins
            if key not in out or name == key + ".json":
                out[key], where[key] = definition, f"swagger/{branch}/{name}"
    return out, where


def _load_supplement():
    """supplement.json, and events.json (the event log's definitions, same keys) merged into it."""
    with open(os.path.join(VENDOR, "supplement.json"), encoding="utf-8") as fh:
        merged = json.load(fh)
    with open(os.path.join(VENDOR, "events.json"), encoding="utf-8") as fh:
        for scope, definitions in json.load(fh).items():
            if isinstance(definitions, dict):
                merged.setdefault(scope, {}).update(definitions)
    return merged


class Problem:
    """One way a document differs from its definition: ``kind`` is unknown_field, type or enum."""

    def __init__(self, kind, definition, field, path, message):
        self.kind, self.definition, self.field, self.path, self.message = kind, definition, field, path, message

    def __repr__(self):
        return f"{self.path}: {self.message} ({self.definition}.{self.field})"


class Definitions:
    """The definitions that apply to controller ``version`` (see the module docstring)."""

    def __init__(self, version):
        self.version = str(version)
        self.key = vkey(version)
        self.branch = branch_for(version)
        self.defs, self.source = _swagger_definitions(self.branch)
        supplement = _load_supplement()
        for scope in (self.branch, "*"):
            for name, definition in (supplement.get(scope) or {}).items():
                if name in self.defs and self.source[name].startswith("swagger/"):
                    if scope == "*":
                        continue   # "*": only for the branches whose Swagger lacks it
                    raise ValueError(f"supplement.json redefines {name}, which swagger/{self.branch} publishes")
                if name not in self.defs:
                    self._add(name, definition, f"supplement.json[{scope}]")
        self.fields_checked = 0

    def _add(self, name, definition, where):
        borrow = definition.get("x-borrow")
        if borrow:   # another branch's definition, and whatever it refers to that this branch lacks
            other, other_where = _swagger_definitions(borrow)
            todo = [name]
            while todo:
                key = todo.pop()
                if key in self.defs and key != name:
                    continue
                self.defs[key] = other[key]
                self.source[key] = f"{other_where[key]} (borrowed: {where})"
                todo += [r for r in re.findall(r'"#/definitions/(\w+)"', json.dumps(other[key])) if r not in self.defs]
            return
        self.defs[name] = definition
        self.source[name] = where

    # ------------------------------------------------------------------ reading a definition
    @staticmethod
    def enum_of(prop):
        if prop.get("enum"):
            return list(prop["enum"])
        m = ENUM.search(prop.get("description", ""))
        return [v.strip() for v in m.group(1).split(",")] if m else None

    def introduced(self, prop):
        """The version a field came with, when its description says so and it is after this one."""
        m = INTRODUCED.search(prop.get("description", ""))
        return m.group(1) if m and vkey(m.group(1)) > self.key else None

    def __contains__(self, name):
        return name in self.defs

    # ------------------------------------------------------------------ checking a document
    def check(self, doc, name, path="$"):
        """Every :class:`Problem` of ``doc`` against definition ``name``."""
        if name not in self.defs:
            raise KeyError(f"no definition {name} for API {self.version} (branch {self.branch})")
        problems = []
        self._object(doc, name, path, problems)
        return problems

    def _object(self, doc, name, path, problems):
        definition = self.defs.get(name)
        if definition is None:
            problems.append(Problem("type", name, "", path, f"no definition {name} in API {self.version}"))
            return
        if not isinstance(doc, dict):
            problems.append(Problem("type", name, "", path, f"expected an object ({name}), got {type(doc).__name__}"))
            return
        props = definition.get("properties")
        if props is None:   # a free-form object
            return
        for field, value in doc.items():
            where = f"{path}.{field}"
            prop = props.get(field)
            if prop is None:
                problems.append(Problem("unknown_field", name, field, where, f"{name} has no field {field}"))
                continue
            after = self.introduced(prop)
            if after:
                problems.append(Problem("unknown_field", name, field, where,
                                        f"{name}.{field} came with {after}, after {self.version}"))
                continue
            self._value(value, prop, name, field, where, problems)

    def _value(self, value, prop, name, field, path, problems):
        self.fields_checked += 1
        if "$ref" in prop:
            target = prop["$ref"].rsplit("/", 1)[-1]
            self._object(value, target, path, problems)
            return
        typ = prop.get("type")
        if typ is None:
            return
        is_bool_number = typ in ("integer", "number") and isinstance(value, bool)
        ok = isinstance(value, JSON_TYPES.get(typ, (object,))) and not is_bool_number
        if not ok:
            problems.append(Problem("type", name, field, path, f"{name}.{field} is a {typ}, got "
                                    f"{type(value).__name__} {json.dumps(value)[:60]}"))
            return
        if typ == "array":
            items = prop.get("items") or {}
            for i, item in enumerate(value):
                self._value(item, dict(items, description=prop.get("description", "")) if "$ref" not in items
                            else items, name, field, f"{path}[{i}]", problems)
            return
        enum = self.enum_of(prop) if typ == "string" else None
        if enum and value not in enum:
            problems.append(Problem("enum", name, field, path, f"{name}.{field} is one of {', '.join(enum)}, "
                                    f"got {value!r}"))
