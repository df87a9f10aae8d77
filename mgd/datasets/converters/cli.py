"""The command line of ``tools/dataset_converters/voc_to_coco.py`` (any VOC folder, a class
list) and of ``neu_det_to_coco.py`` (its NEU-DET preset)."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence

from mgd.datasets.converters.neu_det import convert as convert_neu_det
from mgd.datasets.converters.voc import UnknownClassesError, VOCError
from mgd.datasets.converters.voc_convert import convert_voc, summary_table
from mgd.datasets.converters.voc_split import given_split
from mgd.utils.fileio import NotWritableError

PRESETS = ('neu_det',)
VOC_TOOL = 'tools/dataset_converters/voc_to_coco.py'


def build_parser(description: str, preset: str | None) -> argparse.ArgumentParser:
    """The tools' arguments; without ``preset``, the class list (or ``--preset``) is needed."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    folders = 'ANNOTATIONS/ (or Annotations/) and IMAGES/ (or JPEGImages/), in any case'
    parser.add_argument('root', help=f'folder with {folders}')
    parser.add_argument('out_dir', help='output folder (images/ and annotations/ go here)')
    if preset is None:
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument(
            '--classes', nargs='+', metavar='NAME', help='the class names; ids 1..K in this order'
        )
        group.add_argument(
            '--classes-file',
            metavar='FILE',
            help='a text file with one class name a line (blank lines and # comments skipped)',
        )
        group.add_argument(
            '--preset',
            choices=PRESETS,
            help='a known data set: neu_det = its six classes, split by file-name prefix, as '
            'neu_det_to_coco.py',
        )
    if preset is None:
        parser.add_argument(
            '--split-file',
            metavar='FILE',
            help='keep this split: one "image_id split" a line (train, val, test, trainval); '
            'default: ROOT/ImageSets/Main/{train,val,test,trainval}.txt if there, else random '
            '7:2:1',
        )
    parser.add_argument('--seed', type=int, default=0, help='seed of the split')
    parser.add_argument('--copy', action='store_true', help='copy the images instead of linking')
    parser.add_argument(
        '--keep-difficult',
        action='store_true',
        help='write <difficult> boxes as ordinary boxes (default: ignored regions, iscrowd=1)',
    )
    return parser


def read_classes_file(path: str) -> list[str]:
    """The class names in ``path``: one a line, blank lines and ``#`` comments skipped."""
    with open(path, encoding='utf-8') as f:
        lines = (line.split('#', 1)[0].strip() for line in f)
        return [line for line in lines if line]


def check_classes(classes: Sequence[str], source: str) -> None:
    """Exits with a message when the class list is empty or repeats a name."""
    if not classes:
        sys.exit(f'error: {source} gives no class names')
    repeated = sorted({name for name in classes if classes.count(name) > 1})
    if repeated:
        sys.exit(f'error: {source} repeats {", ".join(map(repr, repeated))}: each class once')


def unknown_hint(error: UnknownClassesError, preset: str | None, classes_file: str | None) -> str:
    """What to do about unknown class names: the class list that would include them."""
    wanted = ' '.join(shlex.quote(name) for name in (*error.classes, *error.unknown))
    if preset == 'neu_det':
        return (
            'hint: NEU-DET has only the six classes above; to convert a VOC data set with other '
            f'classes, pass them all: python {VOC_TOOL} ROOT OUT --classes {wanted}'
        )
    where = f'add them to {classes_file}, or ' if classes_file else ''
    return f'hint: {where}pass --classes with every class to convert, including these: ' + (
        f'--classes {wanted}'
    )


def main(description: str, preset: str | None = None, argv: Sequence[str] | None = None) -> None:
    """Parses the arguments, converts, and prints the summary (or the error, exiting 1)."""
    args = build_parser(description, preset).parse_args(argv)
    preset = preset or args.preset
    classes_file = None if preset else args.classes_file
    options = dict(seed=args.seed, copy=args.copy, keep_difficult=args.keep_difficult)
    try:
        if preset == 'neu_det':
            result = convert_neu_det(args.root, args.out_dir, **options)
        else:
            if classes_file:
                try:
                    classes = read_classes_file(classes_file)
                except (OSError, UnicodeDecodeError) as e:
                    sys.exit(f'error: cannot read --classes-file {classes_file}: {e}')
                check_classes(classes, classes_file)
            else:
                classes = args.classes
                check_classes(classes, '--classes')
            split = given_split(args.root, args.split_file)
            result = convert_voc(args.root, args.out_dir, classes, split=split, **options)
    except NotWritableError as e:  # its message says that nothing was written
        sys.exit(f'error: {e}')
    except UnknownClassesError as e:
        sys.exit(f'error: {e}\n{unknown_hint(e, preset, classes_file)}\nnothing was written.')
    except (VOCError, FileNotFoundError) as e:
        sys.exit(f'error: {e}\nnothing was written.')
    print(summary_table(result))
    names = ','.join(s for s, coco in result.cocos.items() if coco['images'] or s != 'test')
    print(f'wrote {args.out_dir}/annotations/instances_{{{names}}}.json')
