#!/usr/bin/env python3
"""Reads every GET route of Chorus through a client generated from its OpenAPI document by
openapi-python-client: each answer must be a 200 that the generated models parse. Path
parameters come from earlier answers (a case id from the case list, a run id from the runs).

Usage: read_every_route.py CLIENT_DIR BASE_URL TOKEN
Prints one line per route and "N passed, M failed" last; exits 1 on any failure.
"""
import importlib
import inspect
import pkgutil
import sys

client_dir, base_url, token = sys.argv[1:4]
sys.path.insert(0, client_dir)

import chorus_client.api as api  # noqa: E402
from chorus_client import AuthenticatedClient  # noqa: E402
from chorus_client.models.measure import Measure  # noqa: E402

# Routes that are not JSON reads: the event stream never ends; metrics and openapi are text
# or free-form documents checked by other tests.
SKIP = {"events", "metrics"}

client = AuthenticatedClient(base_url=base_url, token=token, raise_on_unexpected_status=True)
known = {"measure": Measure("nps")}
# Required query parameters: the demo's period.
QUERY = {"from_": "2026-08-01", "to": "2026-10-31"}


def first(module, attribute, key):
    answer = module.sync(client=client)
    items = getattr(answer, attribute)
    return getattr(items[0], key) if items else None


def path_values(name, module_name):
    """Values for a route's path parameters, from what the server answered before."""
    if name == "measure":
        return known["measure"]
    if module_name in ("runs", "rejections") and name == "id":
        return "de-service"
    if module_name == "show" and name == "id":
        from chorus_client.api.cases import list_cases

        return first(list_cases, "cases", "id")
    if name == "run_id":
        from chorus_client.api.connectors import runs

        return runs.sync("de-service", client=client).runs[0].id
    raise KeyError(f"no value for path parameter {name} of {module_name}")


passed, failed = 0, 0
for tag in pkgutil.iter_modules(api.__path__):
    package = importlib.import_module(f"chorus_client.api.{tag.name}")
    for operation in pkgutil.iter_modules(package.__path__):
        name = operation.name
        module = importlib.import_module(f"chorus_client.api.{tag.name}.{name}")
        if name in SKIP or '"method": "get"' not in inspect.getsource(module._get_kwargs):
            continue
        signature = inspect.signature(module.sync_detailed)
        positional = [
            p.name
            for p in signature.parameters.values()
            if p.kind == inspect.Parameter.POSITIONAL_OR_KEYWORD
        ]
        query = {
            p.name: QUERY[p.name]
            for p in signature.parameters.values()
            if p.kind == inspect.Parameter.KEYWORD_ONLY and p.name in QUERY
            and p.default is inspect.Parameter.empty
        }
        try:
            args = [path_values(p, name) for p in positional]
            response = module.sync_detailed(*args, client=client, **query)
            parsed = response.parsed
            ok = response.status_code == 200 and parsed is not None and not type(parsed).__name__ == "Error"
            detail = f"{response.status_code} {type(parsed).__name__}"
        except Exception as error:  # a model that cannot read the answer
            ok, detail = False, f"{type(error).__name__}: {error}"
        print(f"{'ok  ' if ok else 'FAIL'} GET {tag.name}.{name}: {detail}")
        passed, failed = passed + ok, failed + (not ok)

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed or passed == 0 else 0)
