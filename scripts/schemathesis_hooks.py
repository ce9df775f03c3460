"""Schemathesis hooks for adrec (loaded by scripts/schemathesis.sh through SCHEMATHESIS_HOOKS).

OpenAPI cannot state a rule that spans two locations, and `POST /jobs/{task}` has one, for its two
values: the date is required in the query, in the JSON body, or in both, and when both are given
they must be the same date (see the `date` parameter in static/openapi.json); `force` may be given
the same ways, and must agree when given twice. Before each call, a generated request is brought
within that rule: with no date anywhere, the query gets one; with two dates or two forces, the
body repeats the query's. Every other part of the request is sent as generated. The rule's
refusals (no date, two different dates or forces) are tested in tests/api/jobs_api.rs and
tests/api/publish.rs.
"""

import schemathesis
from schemathesis.core import NOT_SET

DEFAULT_DATE = "2024-11-24"


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.method.upper() != "POST" or case.operation.path != "/jobs/{task}":
        return
    body = case.body
    in_query = "date" in case.query
    in_body = isinstance(body, dict) and "date" in body
    if in_query and in_body and body["date"] != case.query["date"]:
        body["date"] = case.query["date"]
    elif not in_query and not in_body:
        case.query["date"] = DEFAULT_DATE
    if "force" in case.query and isinstance(body, dict) and "force" in body:
        force = case.query["force"]
        body["force"] = force if isinstance(force, bool) else str(force).lower() == "true"
