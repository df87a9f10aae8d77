"""The documents: a short README, links and anchors that resolve, every page reachable from
the README, metafiles that mim can read, paths that exist, and no project history."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
README = REPO / 'README.md'
PAGES = sorted([README, *(REPO / 'docs').rglob('*.md'), *(REPO / 'configs').glob('*/README.md')])
METAFILES = sorted((REPO / 'configs').glob('*/metafile.yml'))

FENCE = re.compile(r'^\s*(```|~~~).*?^\s*\1', re.M | re.S)
INLINE_CODE = re.compile(r'`[^`\n]*`')
LINK = re.compile(r'!?\[[^\]]*\]\(([^)\s]+)\)')
HEADING = re.compile(r'^#{1,6}\s+(.+?)\s*#*\s*$', re.M)
CONFIG_PATH = re.compile(r'configs/[\w./*-]+\.py')
# a user's copy of configs/own_data, which the guide tells them to make
USER_COPIES = ('configs/mine/',)
# a whole code span that is a path into the repository, e.g. `mgd/compat/stack.py`
REPO_PATH = re.compile(r'`((?:configs|mgd|tools|tests)/[\w./*-]*)`')
HISTORY = re.compile(r'\bissues?\s+#?\d+|\bthis session\b', re.I)


def rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def prose(text: str) -> str:
    """The text without code blocks and code spans, where `[x](y)` is no link."""
    return INLINE_CODE.sub('', FENCE.sub('', text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but - and _ dropped, spaces -."""
    text = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', heading)  # a link keeps its text
    text = re.sub(r'[^\w\- ]', '', text.lower())
    return text.replace(' ', '-')


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    result = set()
    for heading in HEADING.findall(FENCE.sub('', path.read_text())):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f'{base}-{count}')
    return result


def local_links(path: Path) -> list[tuple[str, Path, str]]:
    """(link as written, target file, anchor) for every relative link of a page."""
    links = []
    for target in LINK.findall(prose(path.read_text())):
        if re.match(r'[a-z]+:', target):  # https:, mailto:
            continue
        file, _, anchor = target.partition('#')
        links.append((target, (path.parent / file).resolve() if file else path, anchor))
    return links


def test_readme_is_short():
    lines = len(README.read_text().splitlines())
    assert lines <= 200, f'README.md has {lines} lines; move details into docs/'


@pytest.mark.parametrize('page', PAGES, ids=rel)
def test_links_and_anchors_resolve(page):
    broken = []
    for written, target, anchor in local_links(page):
        if not target.exists():
            broken.append(f'{written}: no such file')
        elif anchor and target.suffix == '.md' and anchor not in anchors(target):
            broken.append(f'{written}: no heading #{anchor} in {rel(target)}')
    assert not broken, f'{rel(page)}: ' + '; '.join(broken)


def test_every_page_is_reachable_from_the_readme():
    reached, todo = {README}, [README]
    while todo:
        for _, target, _ in local_links(todo.pop()):
            if target.suffix == '.md' and target.exists() and target not in reached:
                reached.add(target)
                todo.append(target)
    missing = [rel(p) for p in PAGES if p not in reached]
    assert not missing, f'not reachable from README.md by links: {missing}'


@pytest.mark.parametrize('page', PAGES, ids=rel)
def test_named_paths_exist(page):
    text = page.read_text()
    outside_blocks = FENCE.sub('', text)
    code = [m.group(0) for m in FENCE.finditer(text)] + INLINE_CODE.findall(outside_blocks)
    named = {p for p in CONFIG_PATH.findall('\n'.join(code)) if not p.startswith(USER_COPIES)}
    named |= set(REPO_PATH.findall(outside_blocks))
    missing = sorted(p for p in named if not list(REPO.glob(p.rstrip('/'))))
    assert not missing, f'{rel(page)} names paths that do not exist: {missing}'


@pytest.mark.parametrize('page', PAGES, ids=rel)
def test_no_project_history(page):
    found = HISTORY.findall(page.read_text())
    assert not found, f'{rel(page)} tells how the project was built: {found}'


def test_every_config_folder_has_a_readme():
    folders = [p for p in (REPO / 'configs').iterdir() if p.is_dir() and p.name != '_base_']
    missing = [rel(f) for f in folders if not (f / 'README.md').is_file()]
    assert not missing, f'config folders without a README.md: {missing}'


@pytest.mark.parametrize('metafile', METAFILES, ids=rel)
def test_metafile(metafile):
    meta = yaml.safe_load(metafile.read_text())
    collections = {c['Name'] for c in meta['Collections']}
    for collection in meta['Collections']:
        assert {'Name', 'Metadata', 'Paper', 'README'} <= set(collection), collection['Name']
        assert (REPO / collection['README']).is_file(), collection['README']
    for model in meta['Models']:
        assert model['In Collection'] in collections, model['Name']
        assert (REPO / model['Config']).is_file(), f"{model['Name']}: {model['Config']}"
        assert Path(model['Config']).stem == model['Name'], model['Name']
        for result in model.get('Results', []):
            assert {'Task', 'Dataset', 'Metrics'} <= set(result), model['Name']
            assert all(isinstance(v, int | float) for v in result['Metrics'].values())


def test_slug_follows_github():
    assert slug('From scratch on a CPU: `tools/demo.py --neu-det`') == (
        'from-scratch-on-a-cpu-toolsdemopy---neu-det'
    )
    assert slug('1. Get the data and convert it') == '1-get-the-data-and-convert-it'
