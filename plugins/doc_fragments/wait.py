# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    # Wait options shared by the modules that start long operations.
    DOCUMENTATION = r'''
options:
  wait:
    description:
      - Whether to wait until the operation has finished.
      - With V(false) the module returns as soon as the controller has accepted the change.
    type: bool
    default: true
  timeout:
    description:
      - How many seconds to wait at most for the operation to finish.
      - When it passes the module fails; the operation may still complete on the controller, and running the
        task again converges.
    type: int
    default: 1800
  wait_sleep:
    description:
      - Longest pause, in seconds, between two polls of the controller while waiting. Polling starts at a
        quarter of a second and grows to this value, so short operations are seen finished at once.
    type: float
    default: 2.0
'''
