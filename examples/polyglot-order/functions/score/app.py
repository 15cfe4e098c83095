"""The polyglot-order example's Python step: scores a checked order.

``{"total": 120.0, "count": 3}`` → ``{"scored": {"tier": "gold", "points": 120}}``:
a point per whole unit of the total, gold from the manifest's ``GOLD_FROM``.
"""

import swirl


def handle(input, ctx):
    total = float(input["total"])
    gold_from = float(swirl.config("GOLD_FROM", "100"))
    tier = "gold" if total >= gold_from else "standard"
    swirl.log.info(f"{input['count']} items, {total:.2f}: {tier}")
    return {"scored": {"tier": tier, "points": int(total)}}
