"""``lslacq keygen DIRECTORY``: create a CurveZMQ key pair for RPC servers and clients off the loopback."""

from __future__ import annotations

import argparse

__all__ = ["add_parser", "run_keygen"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``keygen`` sub-command (``lslacq keygen DIRECTORY``)."""
    parser = subparsers.add_parser(
        "keygen",
        help="create a CurveZMQ key pair for RPC servers and clients on non-loopback interfaces",
        description="Write NAME.key (public: give it to peers, put it in their authorized-keys directory) "
        "and NAME.key_secret (keep it private) in DIRECTORY.",
    )
    parser.add_argument("directory", help="where to write the key files")
    parser.add_argument("--name", default="lslacq", help="base name of the key files (default: lslacq)")
    parser.set_defaults(func=run_keygen)
    return parser


def run_keygen(args: argparse.Namespace) -> int:
    """Write a CurveZMQ key pair (``lslacq keygen``) and print where it went."""
    from ..core.rpc.security import create_keys

    public, secret = create_keys(args.directory, args.name)
    print(f"public key: {public}\nsecret key: {secret} (keep private)")
    return 0
