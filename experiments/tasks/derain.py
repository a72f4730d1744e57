"""Deraining: synthetic rain streaks on CBSD68 → its held-out split (the real Rain12 pairs are scored
by the post-run analysis when present)."""
from .base import Task, register

TASK = register(Task("derain", "rain", {}, mode="rgb", train="CBSD68", test="CBSD68", needs=("CBSD68",),
                     about="synthetic rain streaks on CBSD68 (+ real Rain12 pairs)",
                     no_classical="Deraining has no classical reference: no maintained implementation of a classical "
                                  "rain-streak layer-separation method exists."))
