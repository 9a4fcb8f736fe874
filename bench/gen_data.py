#!/usr/bin/env python3
"""Writes the static JSON documents nginx serves: item.json (small) and
big.json (about 50 KB, with a nested field at $.meta.owner.profile.name)."""
import json
import sys

out = sys.argv[1]
item = {"id": 42, "name": "widget", "price": 9.5, "tags": ["a", "b"], "in_stock": True}
with open(f"{out}/item.json", "w") as f:
    json.dump(item, f, separators=(",", ":"))

records = []
i = 0
while True:
    records.append({
        "id": i,
        "sku": f"SKU-{i:06d}",
        "title": f"Item number {i} with a moderately long title",
        "price": round(1.25 * i, 2),
        "attrs": {"color": ["red", "green", "blue"][i % 3], "size": i % 7, "fragile": i % 2 == 0},
    })
    i += 1
    doc = {
        "meta": {"count": len(records), "owner": {"id": 7, "profile": {"name": "Ada Lovelace", "team": "ops"}}},
        "records": records,
    }
    text = json.dumps(doc, separators=(",", ":"))
    if len(text) >= 50 * 1024:
        break
with open(f"{out}/big.json", "w") as f:
    f.write(text)
print(f"item.json {len(json.dumps(item))} bytes, big.json {len(text)} bytes", file=sys.stderr)
