# Copyright (c) 2026, peering developers
"""Azure Resource Manager (`/arm/…`): its routes (VNets, peerings, authorization, policy and
locks), records and JSON renderings.  Nothing is imported here."""
