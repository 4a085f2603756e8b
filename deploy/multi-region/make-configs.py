#!/usr/bin/env python3
"""Writes three Chorus configs for the multi-region demo from config/chorus.toml: a regional
node per region (running the connector instances of its markets) and a headquarters node (no
connectors, no case rules). France is made `residency = "global"`: its redacted records travel
to headquarters; every other market ships counts only.

The demo configuration is read and written with TOML libraries (tomllib, tomli-w), never
edited as text. An instance that serves markets of several regions (`markets = [...]`) runs on
every region that has one of them, narrowed to that region's markets; the rows of the other
markets in its export are refused there (they are the other region's to store).

Usage: make-configs.py [OUT_DIR]   (default: data/multi-region)
"""
import copy
import sys
import tomllib
from pathlib import Path

import tomli_w

ROOT = Path(__file__).resolve().parents[2]
PORTS = {"hq": 8080, "central": 8081, "west": 8082}
GLOBAL_MARKETS = {"FR"}


def absolute_paths(value):
    """Makes the demo's repository-relative paths (`config/...`) absolute."""
    if isinstance(value, dict):
        return {k: absolute_paths(v) for k, v in value.items()}
    if isinstance(value, list):
        return [absolute_paths(v) for v in value]
    if isinstance(value, str) and value.startswith("config/"):
        return str(ROOT / value)
    return value


def served_markets(connector):
    """The markets an instance serves: `market`, or the list in `markets`."""
    if "market" in connector:
        return [connector["market"]]
    return list(connector.get("markets", []))


def for_region(connector, region_markets):
    """The instance as the node of a region runs it, or None when it serves none of them."""
    mine = [m for m in served_markets(connector) if m in region_markets]
    if not mine:
        return None
    narrowed = copy.deepcopy(connector)
    if "markets" in narrowed:
        narrowed["markets"] = mine
    return narrowed


def node_config(demo, node, role, out):
    config = copy.deepcopy(demo)
    config.setdefault("server", {})["listen"] = f"127.0.0.1:{PORTS[node]}"
    config.setdefault("warehouse", {})["path"] = str(out / f"{node}.duckdb")
    for region in config["regions"]:
        region["node_url"] = f"http://127.0.0.1:{PORTS[region['id']]}"
    for market in config["markets"]:
        if market["code"] in GLOBAL_MARKETS:
            market["residency"] = "global"
    if role == "hq":
        # Headquarters stores no records of its own: nothing to ingest, no cases to open.
        config.pop("connectors", None)
        config.pop("case_rules", None)
    else:
        region_markets = {m["code"] for m in config["markets"] if m["region"] == node}
        config["connectors"] = [
            narrowed
            for narrowed in (for_region(c, region_markets) for c in config.get("connectors", []))
            if narrowed is not None
        ]
    config["federation"] = {
        "role": role,
        "node_id": node,
        "nats_url": "nats://127.0.0.1:4222",
        "stream": "CHORUS",
        "user_env": "CHORUS_NATS_USER",
        "password_env": "CHORUS_NATS_PASSWORD",
    }
    return config


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "data/multi-region").resolve()
    out.mkdir(parents=True, exist_ok=True)
    with open(ROOT / "config/chorus.toml", "rb") as file:
        demo = absolute_paths(tomllib.load(file))
    regions = {r["id"] for r in demo["regions"]}
    assert regions == {"central", "west"}, f"the demo has regions {regions}"
    for node, role in (("central", "regional"), ("west", "regional"), ("hq", "hq")):
        path = out / f"{node}.toml"
        path.write_text(tomli_w.dumps(node_config(demo, node, role, out)))
        print(path)


if __name__ == "__main__":
    main()
