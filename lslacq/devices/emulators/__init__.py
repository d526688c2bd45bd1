"""Hardware emulators shipped with lslacq, for users without the hardware and for the tests.

Each emulator works at its device's wire level, so the real device node runs
its real transport code against it (``lslacq emulate DEVICE`` starts one from
the command line). A device with its own subpackage keeps its emulator there:
:class:`lslacq.devices.openbci.CytonEmulator`, :class:`lslacq.devices.emotiv.EmotivBackend`,
:class:`lslacq.devices.rda.RdaEmulator`; ``emulators.openbci`` and
``emulators.emotiv`` are their old paths, kept. Here: :mod:`.jack` (a JACK
dummy server for the PyAudio node). Modules are imported on demand: importing
this package loads nothing.
"""
