"""Hardware emulators shipped with lslacq, for users without the hardware and for the tests.

Each module emulates one device at its wire level, so the real device node
runs its real transport code against it (``lslacq emulate DEVICE`` starts
one from the command line). Modules are imported on demand: importing this
package loads nothing.
"""
