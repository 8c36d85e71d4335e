# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

The one registry of migration providers: the ``provider`` option's value -> the provider's class.
(AnsiballZ ships the module_utils a module imports: importing this ships every provider.)
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetops.maintenance.plugins.module_utils._triton.provider import TritonProvider
from ansible_collections.fleetops.maintenance.plugins.module_utils._virtfusion.provider import VirtFusionProvider

PROVIDERS = {
    TritonProvider.name: TritonProvider,
    VirtFusionProvider.name: VirtFusionProvider,
}
DEFAULT_PROVIDER = TritonProvider.name
