"""``dprobe studio build|show|info``: render, look at and describe the synthetic studio."""
from __future__ import annotations

import argparse
import json

from dprobe.cli.options import (
    add_force,
    add_quiet,
    add_seed,
    add_studio,
    open_studio,
    positive_int,
)
from dprobe.errors import DprobeError
from dprobe.files import check_writable

__all__ = ["register"]


def _build(args: argparse.Namespace) -> int:
    from dprobe.data.build import build_studio

    stats = build_studio(args.preset, args.out, seed=args.seed, force=args.force,
                         progress=not args.quiet, crop_size=args.crop_size)
    print(f"wrote {args.out}: {stats['crops']} crops ({args.crop_size} px) of "
          f"{stats['subjects']} subjects in "
          f"{stats['seconds']:.1f} s ({stats['crops_per_second']:.0f} crops/s rendered), "
          f"{stats['bytes'] / 1e6:.1f} MB")
    return 0


def parse_cameras(text: str, n_cameras: int) -> list[int]:
    """Camera ids of ``--cameras`` (``"0,2"`` or ``"all"``), each checked against the studio."""
    if text == "all":
        return list(range(n_cameras))
    ids = []
    for part in text.split(","):
        try:
            cam = int(part)
        except ValueError:
            raise DprobeError(f"--cameras: {part!r} is not a camera id (0-{n_cameras - 1} "
                              "or 'all')") from None
        if not 0 <= cam < n_cameras:
            raise DprobeError(f"--cameras: camera {cam} does not exist; this studio has "
                              f"cameras 0-{n_cameras - 1}")
        ids.append(cam)
    return ids


def _show(args: argparse.Namespace) -> int:
    from dprobe.report.contact_sheet import write_contact_sheet

    out = check_writable(args.out, args.force)
    studio = open_studio(args.studio)
    cams = parse_cameras(args.cameras, int(studio.cameras["R"].shape[0]))
    for s in args.subjects or ():
        studio.subject_id(s)
    write_contact_sheet(studio, out, subjects=args.subjects, cameras=cams, joints=args.joints)
    print(f"wrote {out}")
    return 0


def _info(args: argparse.Namespace) -> int:
    print(json.dumps(open_studio(args.studio).info(), indent=2))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``studio build|show|info``."""
    studio = sub.add_parser("studio", help="build, show and describe the synthetic studio",
                            description="Build, show and describe the synthetic capture studio.")
    ssub = studio.add_subparsers(dest="studio_command", required=True)
    b = ssub.add_parser("build", help="render a studio preset into an HDF5 file",
                        description="Render a studio preset into an HDF5 file.")
    b.add_argument("--preset", default="tiny", choices=("tiny", "standard"),
                   help="tiny (tests, seconds) or standard (training, ~2 min); default "
                        "%(default)s")
    b.add_argument("--out", required=True, metavar="FILE", help="output HDF5 file")
    b.add_argument("--crop-size", type=positive_int, default=64, metavar="C",
                   help="side of the stored crops, px (default %(default)s); models of other "
                        "crop sizes are probed on any studio: their crops are rendered again")
    add_seed(b)
    add_force(b)
    add_quiet(b)
    b.set_defaults(func=_build)
    s = ssub.add_parser("show", help="write a contact sheet PNG (subjects x actions x cameras)",
                        description="Write a contact sheet PNG: subjects x actions x cameras.")
    add_studio(s)
    s.add_argument("--out", default="contact_sheet.png", metavar="FILE",
                   help="output PNG (default %(default)s)")
    s.add_argument("--cameras", default="0",
                   help="comma-separated camera ids, or 'all' (default %(default)s)")
    s.add_argument("--subjects", nargs="+", default=None, metavar="SUBJECT",
                   help="subject names (default: the named subjects)")
    s.add_argument("--joints", action="store_true", help="draw the 2D skeleton")
    add_force(s)
    s.set_defaults(func=_show)
    i = ssub.add_parser("info", help="print a JSON summary of a studio file",
                        description="Print a JSON summary of a studio file.")
    add_studio(i)
    i.set_defaults(func=_info)
