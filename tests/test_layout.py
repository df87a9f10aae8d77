"""The package layout: ``import mgd`` is free, no import runs back up a layer, modules stay
small, and the tools that only read files do not load the model stack."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / 'mgd'
# What each room may import from mgd besides itself (lower layers only).
ALLOWED = {
    'mgd.utils': set(),
    'mgd.registry': set(),
    'mgd.compat': {'mgd.utils'},
    'mgd.models': {'mgd.utils', 'mgd.compat'},
    'mgd.engine': {'mgd.utils', 'mgd.registry'},
    'mgd.datasets': {'mgd.utils', 'mgd.registry'},
    'mgd.analysis': {'mgd.utils', 'mgd.models'},
    'mgd.deploy': {'mgd.utils', 'mgd.analysis'},
    'mgd.experiments': {'mgd.utils', 'mgd.datasets'},
}
MAX_LINES = 400
FILE_TOOLS = [
    'tools/analysis/plot_curves.py',
    'tools/analysis/results_table.py',
    'tools/misc/make_demo_data.py',
    'tools/dataset_converters/neu_det_to_coco.py',
    'tools/dataset_converters/voc_to_coco.py',
    'tools/dataset_converters/neu_det_to_cls.py',
]


def room(module: str) -> str:
    parts = module.split('.')
    return '.'.join(parts[:2]) if len(parts) > 1 else module


def mgd_imports(path: Path) -> set[str]:
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from mgd.compat import cuda_ops`` imports the module mgd.compat.cuda_ops
            for alias in node.names:
                sub = f'{node.module}.{alias.name}'
                is_module = (REPO / Path(*sub.split('.'))).with_suffix('.py').is_file()
                imported.add(sub if is_module else node.module)
    return {name for name in imported if name == 'mgd' or name.startswith('mgd.')}


MODULES = sorted(p for p in PACKAGE.rglob('*.py') if p.name != '__init__.py' or p.parent != PACKAGE)


@pytest.mark.parametrize('path', MODULES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_import_runs_back_up(path):
    module = '.'.join(path.relative_to(REPO).with_suffix('').parts)
    own = room(module)
    assert own in ALLOWED, f'{module} is in no known room: add it to ALLOWED'
    wrong = {m for m in mgd_imports(path) if room(m) != own and room(m) not in ALLOWED[own]}
    assert not wrong, f'{module} imports {wrong}; {own} may import only {ALLOWED[own]}'


@pytest.mark.parametrize('path', MODULES, ids=lambda p: str(p.relative_to(REPO)))
def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def find_circles(graph: dict[str, set[str]]) -> list[str]:
    """Each edge ``a -> b`` from which ``a`` is reached again."""

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            node = todo.pop()
            if node == goal:
                return True
            if node not in seen:
                seen.add(node)
                todo.extend(graph.get(node, ()))
        return False

    return sorted(f'{a} -> {b} -> ... -> {a}' for a in graph for b in graph[a] if reaches(b, a))


def test_find_circles_sees_direct_and_indirect_circles():
    graph = {'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a', 'e'}, 'e': set()}
    assert find_circles(graph) == ['a -> b -> ... -> a', 'b -> c -> ... -> b', 'c -> a -> ... -> c']
    assert find_circles({'a': {'b'}, 'b': set()}) == []


def test_no_two_modules_import_each_other():
    """No import circle, direct or through others (imports inside functions count too)."""
    names = {module_name(p): p for p in PACKAGE.rglob('*.py')}
    graph = {
        name: {m for m in mgd_imports(path) if m in names and m != name}
        for name, path in names.items()
    }
    assert not find_circles(graph)


@pytest.mark.parametrize('path', MODULES, ids=lambda p: str(p.relative_to(REPO)))
def test_modules_hold_one_concern(path):
    assert len(path.read_text().splitlines()) <= MAX_LINES


def loaded_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, '-c', code + '\nimport sys; print(" ".join(sorted(sys.modules)))'],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return set(out.stdout.split())


def test_import_mgd_has_no_side_effects():
    loaded = loaded_after('import mgd; assert mgd.__version__')
    assert not {'torch', 'mmengine', 'mmrazor', 'mmdet'} & loaded


@pytest.mark.parametrize('tool', FILE_TOOLS)
def test_file_tools_start_without_the_model_stack(tool):
    code = (
        f'import runpy, sys; sys.argv = [{tool!r}, "--help"]\n'
        'try:\n'
        f'    runpy.run_path({tool!r}, run_name="__main__")\n'
        'except SystemExit:\n'
        '    pass'
    )
    loaded = loaded_after(code)
    assert not {'torch', 'mmdet', 'mmrazor', 'mmpretrain'} & loaded
