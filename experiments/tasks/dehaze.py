"""Dehazing: atmospheric scattering I = J·t + A(1 − t) with procedural depth on CBSD68."""
from .base import Task, register

TASK = register(Task("dehaze", "haze", {}, mode="rgb", train="CBSD68", test="CBSD68", needs=("CBSD68",),
                     about="synthetic haze (procedural depth) on CBSD68"))
