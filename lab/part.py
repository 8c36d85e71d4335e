"""The base of a plane's parts: each concern of a world (or of an engine working on a world) is an object
that holds what it works on, not a mixin of it (lab.avi.world, lab.triton.world, lab.virtfusion.engine)."""


class Part:
    """One concern of a world: it reads and changes the world's state through ``self.w``, under the world's
    lock, and reaches the other parts the same way (``self.w.placement``, ``self.w.allocation``...)."""

    def __init__(self, world):
        self.w = world
