"""``python -m lslacq_dareplane GRAPH --port=8080 --ip=127.0.0.1``: serve a graph as a dareplane module."""

import sys

from .cli import main_module

sys.exit(main_module())
