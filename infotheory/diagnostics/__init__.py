"""The three diagnostics (abstraction, detail loss, gradients) and the three sources of information."""
from .._isolate import eval_mode, isolated, model_state, no_side_effects
from .abstraction import abstraction_profile, layer_costs
from .detail import detail_loss
from .gradients import GradientImbalanceWarning, discriminator_call, gradient_balance, layer_groups
from .sources import ablate, detail_energy, information_sources

__all__ = ["abstraction_profile", "layer_costs", "detail_loss", "gradient_balance", "GradientImbalanceWarning",
           "layer_groups", "ablate", "detail_energy", "information_sources", "eval_mode", "no_side_effects",
           "isolated", "model_state", "discriminator_call"]
