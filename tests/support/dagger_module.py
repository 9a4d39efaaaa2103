"""Load the Dagger module exactly as the Python SDK runtime does, without an engine.

The runtime finds the main object through the ``dagger.mod`` entry point of the module's
installed distribution. On the host ``ci/`` is not installed, so this writes the entry point
declared in ``ci/pyproject.toml`` into a throwaway ``.dist-info`` on ``sys.path`` and then calls
the SDK's own ``dagger.mod.cli.load_module()``.
"""

from __future__ import annotations

import importlib.metadata
import sys
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
CI_PYPROJECT = REPO_ROOT / "ci" / "pyproject.toml"


def declared_entry_points() -> dict[str, dict[str, str]]:
    project = tomllib.loads(CI_PYPROJECT.read_text())["project"]
    return dict(project.get("entry-points", {}))


@contextmanager
def installed_entry_points(tmp_path: Path) -> Iterator[None]:
    """Make ``importlib.metadata`` see ci/pyproject.toml's entry points, as after an install."""
    project = tomllib.loads(CI_PYPROJECT.read_text())["project"]
    dist = tmp_path / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    lines: list[str] = []
    for group, entries in declared_entry_points().items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {value}" for name, value in entries.items()]
    (dist / "entry_points.txt").write_text("\n".join(lines) + "\n")
    sys.path.insert(0, str(tmp_path))
    importlib.invalidate_caches()
    try:
        yield
    finally:
        sys.path.remove(str(tmp_path))
        importlib.invalidate_caches()


def load_module(tmp_path: Path) -> Any:
    """The ``dagger.mod.Module`` the runtime would serve."""
    from dagger.mod import cli

    with installed_entry_points(tmp_path):
        return cli.load_module()


def surface(module: Any) -> dict[str, Any]:
    """Every function of the main object: CLI name, doc, check/cache flags and arguments."""
    main = module._main or next(iter(module._objects.values()))
    result: dict[str, Any] = {"object": main.cls.__name__, "doc": _doc(main.cls)}
    constructor = main.get_constructor(module._converter)
    result["constructor"] = {p.name: _param(p) for p in constructor.parameters.values()}
    functions: dict[str, Any] = {}
    for name, fn in sorted(main.functions.items()):
        if name == "":
            continue
        functions[_kebab(name)] = {
            "doc": fn.doc,
            "check": fn.check,
            "cache": fn.cache_policy,
            "returns": getattr(fn.return_type, "__name__", str(fn.return_type)),
            "args": {_kebab(p.name): _param(p) for p in fn.parameters.values()},
        }
    result["functions"] = functions
    return result


def _doc(cls: type) -> str | None:
    from dagger.mod._utils import get_doc

    doc = get_doc(cls)
    return str(doc) if doc is not None else None


def _kebab(name: str) -> str:
    return name.replace("_", "-")


def _param(p: Any) -> dict[str, Any]:
    return {
        "type": _type_name(p.resolved_type),
        "doc": p.doc,
        "default": None if p.default_value is None else str(p.default_value),
        "optional": p.is_optional,
        "default_path": p.default_path,
        "ignore": p.ignore,
    }


def _type_name(t: Any) -> str:
    return str(t).replace("typing.", "").replace("dagger.client.gen.", "dagger.")


def print_registration() -> None:
    """Run the SDK's module registration (``Module._typedefs``) offline and print it as JSON.

    This is the code the runtime runs when the engine asks for the module's types; only the
    final ``Module.id`` round trip to the engine is intercepted, capturing the built query.
    Run in a subprocess with ``DAGGER_MAIN_OBJECT`` set, as the runtime sets it.
    """
    import asyncio
    import json
    import tempfile

    from dagger.client import gen

    captured: dict[str, Any] = {}

    async def capture_id(self: Any) -> str:
        captured["module"] = self
        return "offline"

    gen.Module.id = capture_id  # type: ignore[method-assign]

    def calls(obj: Any) -> list[tuple[str, dict[str, Any]]]:
        return [(f.name, f.args) for f in obj._ctx.selections]

    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(load_module(Path(tmp))._typedefs())
    objects = [args["object"] for name, args in calls(captured["module"]) if name == "withObject"]
    result: dict[str, Any] = {}
    for type_def in objects:
        object_calls = calls(type_def)
        name = next(a["name"] for n, a in object_calls if n == "withObject")
        functions: dict[str, Any] = {}
        for call, args in object_calls:
            if call not in ("withFunction", "withConstructor"):
                continue
            fn_calls = calls(args["function"])
            fn_name = fn_calls[0][1]["name"] if call == "withFunction" else ""
            functions[fn_name] = {
                "check": any(n == "withCheck" for n, _ in fn_calls),
                "cache": next((a["policy"] for n, a in fn_calls if n == "withCachePolicy"), None),
                "args": {
                    a["name"]: {
                        "default": a.get("defaultValue"),
                        "defaultPath": a.get("defaultPath"),
                        "ignore": a.get("ignore"),
                    }
                    for n, a in fn_calls
                    if n == "withArg"
                },
            }
        result[name] = functions
    print(json.dumps(result, default=str))
