"""Event contracts, the append API, the relay and consumer helpers.

Only `events.contracts` (and the modules it imports) is free of Django; the stats service
imports nothing else from here.
"""
