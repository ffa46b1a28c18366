"""The import direction of ARCHITECTURE.md §2, read from the source with the ast module.

routes/pages → services → stores/models; nothing below the web edge knows FastAPI or Starlette;
`core` knows nothing of ours. Every import counts, including ones inside functions.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "parlour"
WEB_FRAMEWORKS = ("fastapi", "starlette")
# Module names (the last part) that face the web and so may use the framework.
EDGE_NAMES = {"routes", "pages"}
# Packages whose every module sits below the web edge.
INFRASTRUCTURE = ("core", "db", "realtime", "storage", "mail", "jobs", "media")


@dataclass(frozen=True)
class Module:
    name: str  # dotted, e.g. parlour.features.chat.store
    path: Path
    imports: tuple[str, ...]  # absolute dotted names of every import, relative ones resolved

    @property
    def parts(self) -> list[str]:
        return self.name.split(".")

    @property
    def leaf(self) -> str:
        return self.parts[-1]


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> list[str]:
    base = module.split(".")
    if node.level:
        keep = len(base) - node.level + (1 if is_package else 0)
        prefix = base[:keep]
        target = ".".join([*prefix, node.module] if node.module else prefix)
    else:
        target = node.module or ""
    # `from parlour.features.accounts import store` imports the module `...accounts.store`.
    return [target, *(f"{target}.{alias.name}" for alias in node.names)]


def _imports(name: str, path: Path) -> tuple[str, ...]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.extend(_resolve(name, node, path.name == "__init__.py"))
    return tuple(found)


def load_modules(root: Path = PACKAGE) -> list[Module]:
    modules = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root.parent).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts.pop()
        name = ".".join(parts)
        modules.append(Module(name, path, _imports(name, path)))
    return modules


def is_edge_name(name: str) -> bool:
    """routes.py, pages.py, a routes/ or pages/ package, or a module named like policy_pages."""
    parts = name.split(".")
    return bool(EDGE_NAMES & set(parts)) or parts[-1].endswith(tuple(f"_{e}" for e in EDGE_NAMES))


def is_edge(module: Module) -> bool:
    return is_edge_name(module.name)


def below_the_edge(module: Module) -> bool:
    """Services, stores, models and infrastructure: everything a router calls into."""
    parts = module.parts
    if len(parts) > 1 and parts[1] in INFRASTRUCTURE:
        return True
    return len(parts) > 3 and parts[1] == "features" and not is_edge(module)


def _uses(module: Module, prefixes: tuple[str, ...]) -> list[str]:
    return sorted(
        {i for i in module.imports if any(i == p or i.startswith(p + ".") for p in prefixes)}
    )


def framework_violations(modules: list[Module]) -> list[str]:
    return [
        f"{m.name} imports {', '.join(_uses(m, WEB_FRAMEWORKS))}"
        for m in modules
        if below_the_edge(m) and _uses(m, WEB_FRAMEWORKS)
    ]


def core_violations(modules: list[Module]) -> list[str]:
    out = []
    for m in modules:
        if m.parts[:2] != ["parlour", "core"]:
            continue
        ours = [i for i in _uses(m, ("parlour",)) if not i.startswith("parlour.core")]
        if ours:
            out.append(f"{m.name} imports {', '.join(ours)}")
    return out


def _is_service_module(name: str, known: set[str]) -> bool:
    """A feature module that is neither a store, a model, a schema nor the web edge."""
    parts = name.split(".")
    if name not in known or len(parts) < 4 or parts[1] != "features":
        return False
    return parts[3] not in {"store", "models", "schemas", "__init__"} and not is_edge_name(name)


def store_violations(modules: list[Module]) -> list[str]:
    """Stores and models reach only models, other stores, core and db."""
    known = {m.name for m in modules}
    out = []
    for m in modules:
        if m.leaf not in ("store", "models") or len(m.parts) < 4:
            continue
        upward = sorted({i for i in m.imports if _is_service_module(i, known)})
        edge = [i for i in _uses(m, ("parlour",)) if is_edge_name(i)]
        if upward or edge:
            out.append(f"{m.name} imports {', '.join(upward + edge)}")
    return out


def web_violations(modules: list[Module]) -> list[str]:
    """Nothing below the edge reaches up into the web layer or a router."""
    out = []
    for m in modules:
        if not below_the_edge(m):
            continue
        up = [i for i in _uses(m, ("parlour",)) if i.startswith("parlour.web") or is_edge_name(i)]
        if up:
            out.append(f"{m.name} imports {', '.join(up)}")
    return out


def test_core_imports_nothing_of_ours() -> None:
    assert core_violations(load_modules()) == []


def test_nothing_below_routes_and_pages_imports_fastapi_or_starlette() -> None:
    modules = load_modules()
    assert any(below_the_edge(m) for m in modules)
    assert framework_violations(modules) == []


def test_stores_and_models_do_not_import_services() -> None:
    assert store_violations(load_modules()) == []


def test_services_do_not_reach_up_into_the_web_layer() -> None:
    assert web_violations(load_modules()) == []


# -- the checker itself must catch what it claims to catch ---------------------------------


@pytest.fixture
def bad_tree(tmp_path: Path) -> list[Module]:
    root = tmp_path / "parlour"
    files = {
        "core/clock.py": "from parlour.db.base import Base\n",
        "features/demo/service.py": "def f():\n    from fastapi import Request\n",
        "features/demo/store.py": "from parlour.features.demo import service\n",
        "features/demo/models.py": "from .routes import router\n",
        "features/demo/routes.py": "from fastapi import APIRouter\n",
        "features/demo/admin_pages.py": "from fastapi import Request\nimport parlour.web.auth\n",
        "features/demo/other.py": "from starlette.responses import Response\n",
        "mail/service.py": "import parlour.web.auth\n",
    }
    for relative, source in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return load_modules(root)


def test_the_checker_reports_each_kind_of_violation(bad_tree: list[Module]) -> None:
    [core] = core_violations(bad_tree)
    assert core.startswith("parlour.core.clock imports parlour.db.base")
    assert {v.split(" ")[0] for v in framework_violations(bad_tree)} == {
        "parlour.features.demo.service",
        "parlour.features.demo.other",
    }
    assert {v.split(" ")[0] for v in store_violations(bad_tree)} == {
        "parlour.features.demo.store",
        "parlour.features.demo.models",
    }
    assert [v.split(" ")[0] for v in web_violations(bad_tree)] == [
        "parlour.features.demo.models",
        "parlour.mail.service",
    ]
