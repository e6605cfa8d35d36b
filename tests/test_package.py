"""The package as a whole: its docstring names every module, each package lists its modules, the
import graph has no cycle and runs down the layers only, and the API page of the built book
documents every public function."""

import ast
import importlib
import inspect
from pathlib import Path

import pytest

import icl
from tests.bad_inputs import module_names, public_callables, resolve

ROOT = Path(icl.__file__).parent
API_PAGE = ROOT.parent / "_build" / "html" / "book" / "api.html"


def imports_of(module: str) -> set[str]:
    """The modules of icl that ``module`` imports (``from icl.x import y`` counts icl.x.y when y is
    a module, else icl.x)."""
    path = ROOT.parent.joinpath(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    known = set(module_names())
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("icl")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("icl"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in known else node.module)
    return found - {module}


def test_the_package_docstring_names_every_module():
    missing = [
        name for name in module_names() if name != "icl" and f":mod:`{name}`" not in icl.__doc__
    ]
    assert not missing, f"modules the package docstring does not name: {missing}"


def test_each_package_lists_and_loads_its_modules():
    packages = [name for name in module_names() if (ROOT.parent / name.replace(".", "/")).is_dir()]
    for package in packages:
        module = importlib.import_module(package)
        children = {
            name[len(package) + 1 :]
            for name in module_names()
            if name.rpartition(".")[0] == package
        }
        if package == "icl.theory":  # re-exports the closed forms by name
            defined = {
                name
                for child in children
                for name, obj in vars(importlib.import_module(f"{package}.{child}")).items()
                if inspect.isfunction(obj)
                and not name.startswith("_")
                and obj.__module__ == f"{package}.{child}"
            }
            assert defined <= set(module.__all__), sorted(defined - set(module.__all__))
            continue
        assert set(module.__all__) == children, package
        assert all(inspect.ismodule(getattr(module, child)) for child in children)


def test_the_import_graph_has_no_cycle():
    graph = {name: imports_of(name) for name in module_names()}
    state = {}

    def visit(name, path):
        if state.get(name) == "done":
            return
        assert state.get(name) != "open", f"import cycle: {' -> '.join([*path, name])}"
        state[name] = "open"
        for child in sorted(graph[name]):
            visit(child, [*path, name])
        state[name] = "done"

    for name in graph:
        visit(name, [])
    assert imports_of("icl.validation") == set()
    assert imports_of("icl.domain") == {"icl.validation"}
    theory = [name for name in graph if name.startswith("icl.theory")]
    assert all(
        dep.startswith("icl.theory") or dep in ("icl.validation", "icl.domain")
        for name in theory
        for dep in graph[name]
    )


# The package's layers, bottom first (the package docstring describes them): a module may import
# from its own layer and the layers below it, never from a layer above.
LAYERS = (
    ("icl.validation", "icl.domain", "icl.runtime"),
    ("icl.tasks", "icl.theory"),
    ("icl.models",),
    ("icl.decoders",),
    ("icl.techniques",),
    ("icl.sparse_vote", "icl.harness"),
    ("icl.experiments",),
    ("icl.figures", "icl.bench", "icl.explorers", "icl.static_explorers", "icl.sweep"),
)


def layer_of(module: str) -> int:
    """The index in LAYERS of the layer holding ``module`` (a module or a package's module)."""
    for index, layer in enumerate(LAYERS):
        if any(module == top or module.startswith(top + ".") for top in layer):
            return index
    raise AssertionError(f"{module} is in no layer of LAYERS")


def test_imports_run_down_the_layers():
    upward = [
        f"{name} (layer {layer_of(name)}) imports {dep} (layer {layer_of(dep)})"
        for name in module_names()
        if name != "icl" and not (ROOT.parent / name.replace(".", "/")).is_dir()
        for dep in sorted(imports_of(name))
        if dep != "icl" and layer_of(dep) > layer_of(name)
    ]
    assert not upward, "imports that run up the layers:\n" + "\n".join(upward)


def public_functions() -> list[str]:
    """The dotted names of the public functions and classes defined in icl's modules (the
    hostile-input table's walk, without the classes' methods)."""
    return [
        name for name in public_callables() if not inspect.isclass(resolve(name.rpartition(".")[0]))
    ]


@pytest.mark.built_book
@pytest.mark.skipif(not API_PAGE.is_file(), reason="the book is not built (make book)")
def test_the_api_page_documents_every_public_function():
    page = API_PAGE.read_text(encoding="utf-8")
    missing = [name for name in public_functions() if f'id="{name}"' not in page]
    assert not missing, f"public functions missing from the API page: {missing}"
