"""``dprobe data h36m-prepare``: convert a captured dataset into a studio file."""
from __future__ import annotations

import argparse

from dprobe.cli.options import add_force, add_quiet, positive_int

__all__ = ["register"]


def _h36m_prepare(args: argparse.Namespace) -> int:
    from dprobe.data.h36m_raw import prepare_h36m

    stats = prepare_h36m(args.raw_dir, args.out, subjects=args.subjects, every=args.every,
                         crop_size=args.crop_size, cameras=args.cameras, force=args.force,
                         progress=not args.quiet)
    H, W = stats["frame_size"]
    print(f"wrote {args.out}: {stats['rows']} crops ({args.crop_size} px, frames {H} x {W}) of "
          f"{stats['sequences']} sequences ({stats['reused']} reused from an earlier run) in "
          f"{stats['seconds']:.1f} s, {stats['bytes'] / 1e6:.1f} MB")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``data h36m-prepare``."""
    from dprobe.data.h36m_raw import EVERY

    data = sub.add_parser("data", help="convert captured datasets into studio files",
                          description="Convert captured datasets into studio HDF5 files.")
    dsub = data.add_subparsers(dest="data_command", required=True)
    p = dsub.add_parser(
        "h36m-prepare", help="convert the raw Human3.6M release into a studio file",
        description="Convert the raw Human3.6M release (S<n>/MyPoseFeatures/D3_Positions/*.cdf "
                    "and S<n>/Videos/*.mp4) into a studio HDF5 file: 17 joints, boxes, crops, "
                    "per-camera backgrounds and estimated masks (docs/h36m.md). Finished "
                    "sequences are kept in OUT.work and reused when the command is run again.")
    p.add_argument("raw_dir", metavar="RAW_DIR", help="the release's folder (holding S1, S5, ...)")
    p.add_argument("--out", required=True, metavar="FILE", help="output HDF5 file")
    p.add_argument("--subjects", nargs="+", default=None, metavar="SUBJECT",
                   help="subjects to convert, e.g. S1 S5 (default: every S<n> folder)")
    p.add_argument("--every", type=positive_int, default=EVERY, metavar="N",
                   help="keep every N-th frame of the 50 Hz videos (default %(default)s: 10 Hz)")
    p.add_argument("--crop-size", type=positive_int, default=64, metavar="C",
                   help="side of the stored crops, px (default %(default)s)")
    p.add_argument("--cameras", default=None, metavar="JSON",
                   help="camera parameters JSON (intrinsics per camera id, extrinsics per "
                        "subject; default: the published calibration built into dprobe)")
    add_force(p)
    add_quiet(p)
    p.set_defaults(func=_h36m_prepare)
