"""Parses a Firebreak status page's Atom and RSS feeds with feedparser (from PyPI) and prints
what it read as JSON for the Rust test to check.

Usage: python feeds_feedparser.py ATOM_URL RSS_URL
"""
import json
import sys

import feedparser

out = {}
for kind, url in (("atom", sys.argv[1]), ("rss", sys.argv[2])):
    f = feedparser.parse(url)
    out[kind] = {
        "bozo": bool(f.bozo),
        "bozo_exception": str(f.get("bozo_exception", "")),
        "version": f.version,
        "title": f.feed.get("title"),
        "entries": [{
            "title": e.get("title"),
            "link": e.get("link"),
            "id": e.get("id"),
            "content": (e.get("content") or [{}])[0].get("value") or e.get("summary"),
        } for e in f.entries],
    }
print(json.dumps(out))
