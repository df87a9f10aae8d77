"""mgd.utils.fileio: single files and folders replaced as one unit, and the writability check."""

import os
import stat

import pytest

from mgd.utils import fileio
from mgd.utils.fileio import (
    NotWritableError,
    check_writable_folder,
    restore_folder,
    write_atomically,
    write_folder_atomically,
)


def listing(folder) -> dict[str, bytes]:
    return {
        p.name: p.read_bytes()
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.is_symlink()
    }


@pytest.mark.parametrize('exchange', [True, False], ids=['swap-in-one-step', 'two-renames'])
def test_folder_is_replaced_as_a_whole_and_keeps_other_files(tmp_path, monkeypatch, exchange):
    if not exchange:
        monkeypatch.setattr(fileio, '_exchange', lambda a, b: False)
    folder = tmp_path / 'annotations'
    write_folder_atomically(str(folder), {'a.json': '1', 'b.json': b'1'})
    (folder / 'notes.txt').write_text('mine')
    (folder / 'sub').mkdir()
    (folder / 'sub' / 'deep.txt').write_text('deep')
    (folder / 'link').symlink_to('notes.txt')
    (folder / '.a.json.x1y2.tmp').write_text('{"half')  # left by a killed write_atomically
    folder.chmod(0o751)
    write_folder_atomically(str(folder), {'a.json': '2', 'b.json': b'2'})
    assert sorted(os.listdir(folder)) == ['a.json', 'b.json', 'link', 'notes.txt', 'sub']
    assert listing(folder) == {'a.json': b'2', 'b.json': b'2', 'notes.txt': b'mine'}
    assert (folder / 'sub' / 'deep.txt').read_text() == 'deep'
    assert os.readlink(folder / 'link') == 'notes.txt'
    assert stat.S_IMODE(folder.stat().st_mode) == 0o751  # the old folder's permissions
    assert sorted(os.listdir(tmp_path)) == ['annotations']


def test_new_files_and_folder_get_the_usual_permissions(tmp_path):
    old = os.umask(0o027)
    try:
        write_folder_atomically(str(tmp_path / 'out' / 'ann'), {'a.json': '{}'})
        write_atomically({str(tmp_path / 'single.txt'): 'x'})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / 'out' / 'ann').stat().st_mode) == 0o750
    assert stat.S_IMODE((tmp_path / 'out' / 'ann' / 'a.json').stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / 'single.txt').stat().st_mode) == 0o640


def test_a_symlinked_folder_is_followed(tmp_path):
    (tmp_path / 'store').mkdir()
    (tmp_path / 'ann').symlink_to('store')
    write_folder_atomically(str(tmp_path / 'ann'), {'a.json': '1'})
    write_folder_atomically(str(tmp_path / 'ann'), {'a.json': '2'})
    assert (tmp_path / 'ann').is_symlink() and (tmp_path / 'store' / 'a.json').read_text() == '2'
    assert sorted(os.listdir(tmp_path)) == ['ann', 'store']


def test_stale_temporaries_are_removed(tmp_path):
    (tmp_path / '.ann.k3j9.tmp').mkdir()
    (tmp_path / '.ann.k3j9.tmp' / 'a.json').write_text('{')
    (tmp_path / '.ann.z1-old.tmp').mkdir()
    (tmp_path / '.annex.q.tmp').mkdir()  # another folder's: kept
    write_folder_atomically(str(tmp_path / 'ann'), {'a.json': '1'})
    assert sorted(os.listdir(tmp_path)) == ['.annex.q.tmp', 'ann']
    (tmp_path / '.last_checkpoint.abc.tmp').write_text('half')
    write_atomically({str(tmp_path / 'last_checkpoint'): 'epoch_1.pth'})
    assert sorted(os.listdir(tmp_path)) == ['.annex.q.tmp', 'ann', 'last_checkpoint']


def test_a_failed_swap_keeps_the_old_folder(tmp_path, monkeypatch):
    folder = tmp_path / 'ann'
    write_folder_atomically(str(folder), {'a.json': '1', 'b.json': '1'})
    monkeypatch.setattr(fileio, '_exchange', lambda a, b: False)
    real_replace, failed = os.replace, []

    def replace(src, dst):  # the new folder cannot be renamed into place (once)
        if str(dst) == str(folder) and not failed:
            failed.append(src)
            raise OSError(28, 'No space left on device')
        real_replace(src, dst)

    monkeypatch.setattr(os, 'replace', replace)
    with pytest.raises(OSError, match='No space'):
        write_folder_atomically(str(folder), {'a.json': '2', 'b.json': '2'})
    assert listing(folder) == {'a.json': b'1', 'b.json': b'1'}
    assert sorted(os.listdir(tmp_path)) == ['ann']


def test_the_next_run_puts_back_what_a_kill_between_renames_left_aside(tmp_path, monkeypatch):
    folder = tmp_path / 'ann'
    write_folder_atomically(str(folder), {'a.json': '1'})
    (folder / 'input.xml').write_text('<keep/>')
    with monkeypatch.context() as patch:
        patch.setattr(fileio, '_exchange', lambda a, b: False)
        real_replace, calls = os.replace, []

        def replace(src, dst):  # dies after the first rename: folder is aside, not yet new
            calls.append(dst)
            if len(calls) > 1:
                raise KeyboardInterrupt
            real_replace(src, dst)

        patch.setattr(os, 'replace', replace)
        patch.setattr(fileio.shutil, 'rmtree', lambda *a, **k: None)  # dead: no clean-up
        with pytest.raises(KeyboardInterrupt):
            write_folder_atomically(str(folder), {'a.json': '2'})
    assert not folder.exists()
    restore_folder(str(folder))
    assert listing(folder) == {'a.json': b'1', 'input.xml': b'<keep/>'}
    write_folder_atomically(str(folder), {'a.json': '3'})
    assert listing(folder) == {'a.json': b'3', 'input.xml': b'<keep/>'}
    assert sorted(os.listdir(tmp_path)) == ['ann']


def test_file_names_must_be_plain(tmp_path):
    with pytest.raises(ValueError, match='plain file name'):
        write_folder_atomically(str(tmp_path / 'ann'), {'sub/a.json': '1'})
    assert os.listdir(tmp_path) == []


def test_check_writable_folder(tmp_path):
    check_writable_folder(str(tmp_path / 'new' / 'deeper'), 'out_dir')  # can be made
    check_writable_folder(str(tmp_path), 'out_dir')
    (tmp_path / 'file').write_text('x')
    with pytest.raises(NotWritableError, match=f'{tmp_path / "file"} is in the way'):
        check_writable_folder(str(tmp_path / 'file' / 'out'), 'out_dir')
    with pytest.raises(NotWritableError, match='out_dir /proc/mgd-x/out: cannot create files in'):
        check_writable_folder('/proc/mgd-x/out', 'out_dir')
    assert sorted(os.listdir(tmp_path)) == ['file']  # the probes are gone, nothing was made
