"""pathview: desktop review of histopathology patches with a CNN at your side."""

__version__ = "0.1.0"
