"""Upscaling: the Upscaler, its engines and tiles, files and videos, export, the Beam batch."""
