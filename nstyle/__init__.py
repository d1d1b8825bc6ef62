"""nstyle: neural style transfer (Gatys, Ecker & Bethge 2016) on MXNet executors."""
from nstyle.api import load_weights, stylize
from nstyle.config import Options
from nstyle.errors import NStyleError
from nstyle.optimize import Iterate

__all__ = ["stylize", "load_weights", "Options", "Iterate", "NStyleError"]
