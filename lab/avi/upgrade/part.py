"""The base of the upgrade engine's parts."""
from lab.part import Part


class UpgradePart(Part):
    """A part of the upgrade engine: the world in ``self.w``, the engine (its state ``up`` and its
    other parts) in ``self.u``."""

    def __init__(self, world, engine):
        super().__init__(world)
        self.u = engine
