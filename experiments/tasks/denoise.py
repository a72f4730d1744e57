"""Denoising: additive white Gaussian noise σ = 25 (0–255 scale), Train400 → Set12, grey."""
from .base import Task, register

TASK = register(Task("denoise", "awgn", {"sigma": 25}, mode="grey", train="Train400", test="Set12",
                     needs=("Train400", "Set12"), about="AWGN σ = 25; Train400 → Set12 (grey)"))
