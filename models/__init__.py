"""models — restoration generators, discriminators and GAN losses; each fix is a config switch."""
from .discriminator import PatchDiscriminator
from .losses import ADVERSARIAL_LOSSES, AdversarialLoss, GeneratorObjective, content_loss, gradient_penalty
from .losses import get_adversarial, register_adversarial
from .presets import PRESETS, get_preset
from .unet import UNetGenerator, make_norm

__all__ = [
    "UNetGenerator", "PatchDiscriminator", "make_norm", "ADVERSARIAL_LOSSES", "AdversarialLoss",
    "GeneratorObjective", "content_loss", "gradient_penalty", "get_adversarial", "register_adversarial", "PRESETS", "get_preset",
]
