"""What a step of a lab migration raises (``lab.virtfusion.engine`` runs the steps, ``live`` and ``hybrid``
hold them)."""


class StepFailed(Exception):
    def __init__(self, message, data=None):
        super().__init__(message)
        self.message = message
        self.data = data


class Stopped(Exception):
    """The lab is shutting down (the migration stays in-progress and fails on restart)."""
