"""The base of the Avi world's parts: each concern (objects, placement, operations, views, the
upgrade engine) is an object that holds the world it works on, not a mixin of it."""


class Part:
    """One concern of the Avi world (``lab.avi.world.World``): it reads and changes the world's state
    through ``self.w``, under the world's lock, and reaches the other parts the same way
    (``self.w.placement``, ``self.w.upgrade``...)."""

    def __init__(self, world):
        self.w = world
