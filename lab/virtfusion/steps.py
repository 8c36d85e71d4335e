"""What the steps of a lab migration share (``lab.virtfusion.engine`` runs the steps, its parts ``live`` and
``hybrid`` hold them): the base of those parts and what a step raises."""
from lab.part import Part


class EnginePart(Part):
    """A part of the migration engine (``lab.virtfusion.engine.Engine``): the world in ``self.w``, the engine (its
    guests, its step runner and what both kinds share) in ``self.e``."""

    def __init__(self, engine):
        super().__init__(engine.world)
        self.e = engine


class StepFailed(Exception):
    def __init__(self, message, data=None):
        super().__init__(message)
        self.message = message
        self.data = data


class Stopped(Exception):
    """The lab is shutting down (the migration stays in-progress and fails on restart)."""
