"""Reads a Firebreak status page with aRez's Statuspage client (`arez.statuspage`, from PyPI),
unchanged, and prints what it understood as JSON for the Rust test to check.

Usage: python statuspage_arez.py BASE_URL   (the client appends /api/v2/summary.json)
"""
import asyncio
import json
import sys

from arez.statuspage import StatusPage


async def main(url: str) -> None:
    async with StatusPage(url) as page:
        s = await page.get_status()
        print(json.dumps({
            "name": s.name,
            "description": s.status,
            "impact": s.impact,
            "updated_at": s.updated_at.isoformat(),
            "components": {c.name: {"status": c.status, "group": c.group.name if c.group else None}
                           for c in s.components},
            "groups": {g.name: {"status": g.status, "components": [c.name for c in g.components]}
                       for g in s.groups},
            "incidents": [{
                "name": i.name,
                "status": i.status,
                "impact": i.impact,
                "components": [c.name for c in i.components],
                "last_update": i.last_update.description,
                "updates": len(i.updates),
            } for i in s.incidents],
        }))


asyncio.run(main(sys.argv[1]))
