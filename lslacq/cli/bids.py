"""``lslacq bids FILE_OR_DIR --root R --subject S --task T``: an lslacq recording or XDF file into a BIDS dataset.

Writes one signal stream as EEG-BIDS (BrainVision by default, or EDF) with
its _eeg.json, _channels.tsv and _events.tsv (the markers, onsets to the
sample) through mne-bids, and copies the original under sourcedata/.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_parser", "run_bids"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``bids`` sub-command (entry point of the ``lslacq.commands`` group)."""
    parser = subparsers.add_parser(
        "bids",
        help="export a recording or XDF file to a BIDS dataset",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("source", metavar="FILE_OR_DIR", help="an .xdf file or an lslacq recording directory")
    parser.add_argument("--root", required=True, help="the BIDS dataset root")
    parser.add_argument("--subject", required=True, help="BIDS subject label")
    parser.add_argument("--task", required=True, help="BIDS task label")
    parser.add_argument("--session", help="BIDS session label")
    parser.add_argument("--run", help="BIDS run index")
    parser.add_argument("--stream", help="which signal stream (default: the first EEG one)")
    parser.add_argument("--format", default="BrainVision", choices=["BrainVision", "EDF"], help="data format")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing entry")
    parser.set_defaults(func=run_bids)
    return parser


def run_bids(args) -> int:
    """Run ``lslacq bids`` with parsed arguments; return the exit code."""
    from ..rec.bids import to_bids

    try:
        path = to_bids(
            args.source,
            args.root,
            args.subject,
            args.task,
            session=args.session,
            run=args.run,
            stream=args.stream,
            format=args.format,
            overwrite=args.overwrite,
        )
    except (OSError, ValueError, ImportError) as exc:
        print(f"lslacq bids: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0
