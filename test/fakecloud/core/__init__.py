# Copyright (c) 2026, peering developers
"""What the services share: the world and its records, time and transitions, scenarios and seeding,
faults and their presets, routing, the `/_fake/` control API, the HTTPS server and start-up.
Nothing is imported here."""
