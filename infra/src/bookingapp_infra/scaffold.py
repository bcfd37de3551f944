"""`add-service NAME`: everything a new app service needs, written all at once or not at all.

A new app is a copy of the last app in ALB rule order (the model) with its name, title,
path and priority changed: its package (NAME/), its parameter file, its compose.yaml and
compose.override.yaml entries, the BOOKINGAPP_APPS list in compose.yaml's shared block and
the root pyproject's workspace entries. Every new text is made and checked first (the
parameter files are loaded by params.py, with the new one among them); only then is each
file written beside its target and renamed over it. Any refusal is one line and writes
nothing. uv.lock is not touched: `uv lock` (or any `uv run`) adds the new member.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bookingapp_infra.errors import InfraError, InputError
from bookingapp_infra.params import (
    ParamsError,
    ServiceParams,
    app_names,
    load_all,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
# A service's name is also its Python package (bookingapp_NAME), so no hyphen, on top of
# what params.py asks of any service name (CloudFormation's pattern, a DNS label).
PACKAGE_NAME = re.compile(r"^[a-z][a-z0-9]*$")
# Where a trailing comment starts on a line of TOML or YAML: spaces, then "# ".
_COMMENT = re.compile(r"(?<=\S)\s+#(?= )")
PRIORITY_STEP = 10  # next free priority: a gap, so a blue/green test rule fits below each
# Traefik picks the highest priority, the ALB the lowest: compose uses 1000 - ALB priority.
TRAEFIK_PRIORITY_BASE = 1000

INIT_TEMPLATE = '''"""{name}: a bookingapp service (begun by `bookingapp-infra add-service`)."""

from flask import Flask

from bookingapp_common import ServiceSpec, create_service_app

SERVICE = ServiceSpec(
    name={name_text},
    title={title_text},
    tagline={tagline_text},
)


def create_app(config: dict | None = None) -> Flask:
    """Create the {name} app."""
    return create_service_app(SERVICE, config)
'''


@dataclass(frozen=True)
class NewService:
    """What the command was asked for."""

    name: str
    priority: int | None = None
    title: str | None = None


def add_service(root: Path, wanted: NewService) -> list[Path]:
    """Write the new service into the repository at root; return the files written."""
    changes = planned_changes(root, wanted)
    write_all(changes)
    return list(changes)


def planned_changes(root: Path, wanted: NewService) -> dict[Path, str]:
    """Return every file to write (path -> text) for the new service, or refuse it."""
    name = wanted.name
    check_name(name)
    services_dir = root / "infra" / "services"
    services = load(services_dir)
    check_free(root, name, services)
    model = model_app(services)
    priority = wanted.priority if wanted.priority is not None else next_priority(services)
    title = wanted.title or name.capitalize()
    new_params = services_dir / f"{name}.toml"
    model_params = read(services_dir / f"{model.name}.toml")
    params_text = renamed_params(model_params, model, name, priority)
    apps = check_params(services_dir, new_params.name, params_text)
    compose = root / "compose.yaml"
    override = root / "compose.override.yaml"
    return {
        root / name / "pyproject.toml": renamed(
            read(root / model.name / "pyproject.toml"), model.name, name
        ),
        root / name / "src" / f"bookingapp_{name}" / "__init__.py": INIT_TEMPLATE.format(
            name=name,
            name_text=json.dumps(name),
            title_text=json.dumps(title),
            tagline_text=json.dumps(f"{title}: book here."),
        ),
        new_params: params_text,
        compose: compose_with(read(compose), model, name, priority, apps),
        override: override_with(read(override), model.name, name),
        root / "pyproject.toml": workspace_with(read(root / "pyproject.toml"), model.name, name),
    }


def check_name(name: str) -> None:
    """Refuse a name that cannot be a service, a Python package and a DNS label at once."""
    if not PACKAGE_NAME.match(name) or len(name) > 63:
        hint = f" (try {name.replace('-', '')!r})" if "-" in name and name.islower() else ""
        raise InputError(
            f"service name {name!r} must be lowercase letters and digits, starting with a "
            f"letter, at most 63: CloudFormation's ServiceName, a DNS label and the Python "
            f"package bookingapp_<name> all accept that{hint}"
        )


def load(services_dir: Path) -> dict[str, ServiceParams]:
    """Load the existing parameter files; they must be valid before anything is added."""
    try:
        return load_all(services_dir)
    except ParamsError as err:
        raise InputError(f"fix the existing parameter files first: {err}") from err


def check_free(root: Path, name: str, services: Mapping[str, ServiceParams]) -> None:
    """Refuse a name a parameter file, a directory or a compose service already has."""
    compose = compose_services(read(root / "compose.yaml"))
    if name in services:
        raise InputError(f"service {name!r} exists: infra/services/{name}.toml is there")
    if (root / name).exists():
        raise InputError(f"name {name!r} is taken: {root / name} exists")
    if name in compose:
        raise InputError(f"name {name!r} is taken: compose.yaml has a service {name!r}")


def model_app(services: Mapping[str, ServiceParams]) -> ServiceParams:
    """Return the app the new one is copied from: the last in ALB rule order."""
    apps = app_names(services)
    if not apps:
        raise InputError("there is no app service to copy: add one by hand first")
    return services[apps[-1]]


def next_priority(services: Mapping[str, ServiceParams]) -> int:
    """Return the next multiple of PRIORITY_STEP above every listener rule priority."""
    highest = max((p.alb.priority for p in services.values() if p.alb is not None), default=0)
    return (highest // PRIORITY_STEP + 1) * PRIORITY_STEP


def renamed(text: str, old: str, new: str) -> str:
    """Return text with the service name old replaced by new, comments kept in their column.

    The name is replaced where it stands alone or as a part of a longer name (bookingapp_bus,
    /bus/health, bus.internal-...), never inside another word (business).
    """
    pattern = re.compile(rf"(?<![A-Za-z0-9]){re.escape(old)}(?![A-Za-z0-9])")
    return "".join(
        _keep_comment_column(line, pattern.sub(new, line)) for line in text.splitlines(True)
    )


def _keep_comment_column(before: str, after: str) -> str:
    """Re-pad a changed line so its trailing comment starts where it did (if it still fits)."""
    was, now = _COMMENT.search(before), _COMMENT.search(after)
    if before == after or was is None or now is None:
        return after
    code = after[: now.start()]
    return code + " " * max(1, was.end() - 1 - len(code)) + after[now.end() - 1 :]


def renamed_params(text: str, model: ServiceParams, name: str, priority: int) -> str:
    """Return the model's parameter file for the new service at the given priority."""
    if model.alb is None:  # model_app returns an app
        raise InputError(f"{model.name}.toml: no [alb] table to copy")
    text, count = re.subn(
        rf"(?m)^(priority\s*=\s*){model.alb.priority}\b", rf"\g<1>{priority}", text
    )
    if count != 1:
        raise InputError(f"{model.name}.toml: cannot find its [alb] priority line to copy")
    return renamed(text, model.name, name)


def check_params(services_dir: Path, filename: str, text: str) -> list[str]:
    """Load every parameter file with the new one among them; return the apps in rule order."""
    with tempfile.TemporaryDirectory() as staging:
        for path in services_dir.glob("*.toml"):
            shutil.copy(path, staging)
        (Path(staging) / filename).write_text(text, encoding="utf-8")
        try:
            return app_names(load_all(Path(staging)))
        except ParamsError as err:
            raise InputError(str(err)) from err


def read(path: Path) -> str:
    """Return a file the command edits, or refuse when it is missing."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read it: {err}") from err


def compose_services(text: str) -> dict[str, tuple[int, int]]:
    """Return each service of a compose file: its entry's (start, end) character offsets."""
    section = re.search(r"(?m)^services:\s*\n", text)
    if section is None:
        return {}
    rest = text[section.end() :]
    top = re.search(r"(?m)^\S", rest)
    body_end = section.end() + (top.start() if top else len(rest))
    heads = list(re.finditer(r"(?m)^  ([a-z0-9][a-z0-9_.-]*):", text[:body_end]))
    heads = [h for h in heads if h.start() >= section.end()]
    entries = {}
    for index, head in enumerate(heads):
        end = heads[index + 1].start() if index + 1 < len(heads) else body_end
        entries[head.group(1)] = (head.start(), end)
    return entries


def entry_of(text: str, service: str, where: str) -> tuple[str, int]:
    """Return a service's entry (without the comments and blank lines after it), and its end."""
    entries = compose_services(text)
    if service not in entries:
        raise InputError(f"{where} has no service {service!r} to copy the new entry from")
    start, end = entries[service]
    block = text[start:end]
    lines = block.splitlines(keepends=True)
    while lines and (not lines[-1].strip() or lines[-1].lstrip().startswith("#")):
        lines.pop()
    entry = "".join(lines)
    return entry, start + len(entry)


def compose_with(text: str, model: ServiceParams, name: str, priority: int, apps: list[str]) -> str:
    """Return compose.yaml with the new app's entry after the model's, and the apps list."""
    entry, end = entry_of(text, model.name, "compose.yaml")
    lines = renamed(entry, model.name, name).splitlines(keepends=True)
    label = f"traefik.http.routers.{name}.priority="
    at = [i for i, line in enumerate(lines) if label in line]
    if len(at) != 1:
        raise InputError(f"compose.yaml: {model.name} has no one {label}N label to copy")
    line = lines[at[0]]
    changed = re.sub(rf"{re.escape(label)}\d+", f"{label}{TRAEFIK_PRIORITY_BASE - priority}", line)
    comment = _COMMENT.search(changed)
    code = changed[: comment.start()] if comment else changed.rstrip("\n")
    said = (
        f"ALB priority {priority}: lower wins there, higher here "
        f"({TRAEFIK_PRIORITY_BASE} - {priority})"
    )
    lines[at[0]] = _keep_comment_column(line, f"{code}  # {said}\n")
    text = text[:end] + "\n" + "".join(lines) + text[end:]
    listed = list(re.finditer(r"(?m)^\s+BOOKINGAPP_APPS:.*\n", text))
    if len(listed) != 1:
        raise InputError("compose.yaml: no one BOOKINGAPP_APPS line in the shared x-app block")
    was = listed[0]
    now = re.sub(r"(BOOKINGAPP_APPS:\s*)[a-z0-9,-]+", rf"\g<1>{','.join(apps)}", was[0])
    return text[: was.start()] + _keep_comment_column(was[0], now) + text[was.end() :]


def override_with(text: str, model: str, name: str) -> str:
    """Return compose.override.yaml with the new app's entry after the model's."""
    entry, end = entry_of(text, model, "compose.override.yaml")
    return text[:end] + renamed(entry, model, name) + text[end:]


def workspace_with(text: str, model: str, name: str) -> str:
    """Return the root pyproject with the new member wherever the model app is listed.

    A line that lists only the model (a dependency, a source, a directory) gets a copy for
    the new service after it; a list on one line gets the new name after the model's.
    """
    tokens = (model, f"bookingapp-{model}", f"bookingapp_{model}")
    lines = []
    for line in text.splitlines(keepends=True):
        lines.append(line)
        if line.lstrip().startswith("#"):
            continue
        quoted = [t for t in tokens if f'"{t}"' in line]
        if line.strip() == f"bookingapp-{model} = {{ workspace = true }}":
            lines.append(line.replace(f"bookingapp-{model}", f"bookingapp-{name}"))
        elif quoted and re.fullmatch(r'\s*"[^"]*",?\s*', line):
            lines.append(renamed(line, model, name))
        elif quoted:
            for token in quoted:
                lines[-1] = lines[-1].replace(
                    f'"{token}"', f'"{token}", "{token.replace(model, name)}"'
                )
    result = "".join(lines)
    check_workspace(result, name)
    return result


def check_workspace(text: str, name: str) -> None:
    """Refuse a root pyproject that does not end up naming the new member everywhere uv needs."""
    project = tomllib.loads(text)
    uv = project.get("tool", {}).get("uv", {})
    ok = (
        name in uv.get("workspace", {}).get("members", [])
        and f"bookingapp-{name}" in uv.get("sources", {})
        and f"bookingapp-{name}" in project.get("dependency-groups", {}).get("dev", [])
    )
    if not ok:
        raise InputError(
            "pyproject.toml: cannot add the workspace member, source and dev dependency the "
            "way the other apps are listed; add them by hand"
        )


def write_all(changes: Mapping[Path, str]) -> None:
    """Write every file beside its target, then rename each over it; on a failure, undo."""
    made: list[Path] = []
    staged: list[tuple[Path, Path]] = []
    try:
        for path, text in changes.items():
            missing = [d for d in (path.parent, *path.parent.parents) if not d.exists()]
            for directory in reversed(missing):
                directory.mkdir()
                made.append(directory)
            temporary = path.with_name(f".{path.name}.add-service")
            temporary.write_text(text, encoding="utf-8")
            staged.append((temporary, path))
    except OSError as err:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
        for directory in reversed(made):
            directory.rmdir()
        raise InfraError(
            f"cannot write {err.filename}: {err.strerror}; nothing was changed"
        ) from err
    for temporary, path in staged:
        os.replace(temporary, path)
