#!/usr/bin/env python3
"""Writes three Chorus configs for the multi-region demo from config/chorus.toml: a regional
node per region (running only its markets' connectors) and a headquarters node (no
connectors). France is made `residency = "global"`: its redacted records travel to
headquarters; every other market ships counts only."""
import re
import sys
from pathlib import Path

root = Path(__file__).resolve().parents[2]
out = Path(sys.argv[1] if len(sys.argv) > 1 else root / "data/multi-region")
out.mkdir(parents=True, exist_ok=True)
demo = (root / "config/chorus.toml").read_text()
demo = demo.replace('"config/', f'"{root}/config/')
head, *blocks = re.split(r"(?m)^(?=\[\[connectors\]\])", demo)
head = head.replace('region = "west"\nlanguages = ["fr", "en"]',
                    'region = "west"\nlanguages = ["fr", "en"]\nresidency = "global"')
markets = dict(re.findall(r'code = "(\w\w)"[^\[]*?region = "(\w+)"', head))
ports = {"central": 8081, "west": 8082, "hq": 8080}
for region in ("central", "west"):
    head = head.replace(f'id = "{region}"\n', f'id = "{region}"\nnode_url = "http://127.0.0.1:{ports[region]}"\n', 1)


def federation(role, node):
    return (f'\n[federation]\nrole = "{role}"\nnode_id = "{node}"\n'
            'nats_url = "nats://127.0.0.1:4222"\nstream = "CHORUS"\n'
            'user_env = "CHORUS_NATS_USER"\npassword_env = "CHORUS_NATS_PASSWORD"\n')


for node, role in (("central", "regional"), ("west", "regional"), ("hq", "hq")):
    text = head.replace('listen = "127.0.0.1:8080"', f'listen = "127.0.0.1:{ports[node]}"')
    text = text.replace('path = "data/chorus.duckdb"', f'path = "{out}/{node}.duckdb"')
    if role == "hq":
        # Headquarters opens no cases itself: it has no records to open them on.
        text = re.sub(r"(?ms)^\[\[case_rules\]\].*?(?=^\[\[|\Z)", "", text)
    else:
        for block in blocks:
            market = re.search(r'market = "(\w\w)"', block)
            if market and markets.get(market.group(1)) == node:
                text += block
    text += federation(role, node)
    (out / f"{node}.toml").write_text(text)
    print(out / f"{node}.toml")
