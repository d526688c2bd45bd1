"""pyacq's module path for the plaindata sender (``pyacq.core.stream.plaindatastream.PlainDataSender``)."""

from .plaindata import PlainDataReceiver, PlainDataSender

__all__ = ["PlainDataSender", "PlainDataReceiver"]
