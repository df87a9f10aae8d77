"""Progress in a log file is a few lines per task; in a terminal, mmengine's redrawn bar."""

import io

from mgd.utils.progress import track


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_log_file_gets_five_plain_lines():
    stream = io.StringIO()
    assert list(track(range(1000), 'reading', stream)) == list(range(1000))
    lines = stream.getvalue().splitlines()
    assert [line.split(' (')[0] for line in lines] == [
        f'reading: {n}/1000' for n in (0, 250, 500, 750, 1000)
    ]
    assert '\r' not in stream.getvalue()


def test_a_terminal_gets_the_redrawn_bar():
    stream = Terminal()
    assert list(track(range(50), 'reading', stream)) == list(range(50))
    assert stream.getvalue().count('\r') >= 50  # one redraw per item


def test_nothing_to_do_is_one_line():
    stream = io.StringIO()
    assert list(track([], 'reading', stream)) == []
    assert stream.getvalue().startswith('reading: 0/0 (')
