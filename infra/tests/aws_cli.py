"""The AWS CLI's commands checked against botocore's service models (offline data): an `aws SERVICE COMMAND --x ...`
names an operation (or a waiter) that exists, every --option is one of its parameters (or --no-<boolean>, or a
global option), and every required parameter is given. Also: the `aws` calls written in a shell script, found
statically; and a stand-in `aws` for tests, which checks each call the same way and answers from a canned state.
"""

import json
import re
import sys

import botocore.session
import jmespath
from botocore import xform_name

GLOBAL_OPTIONS = {"--query", "--output", "--region", "--profile", "--no-cli-pager", "--debug", "--endpoint-url",
                  "--no-paginate", "--cli-input-json"}
_session = botocore.session.get_session()


def operation_of(service, command, rest):
    """(operation model, options after the command) of a CLI call, or raise ValueError saying why."""
    if service not in _session.get_available_services():
        raise ValueError(f"no AWS service {service!r}")
    model = _session.get_service_model(service)
    if command == "wait":
        waiters = _session.get_waiter_model(service)
        names = {xform_name(n, "-"): n for n in waiters.waiter_names}
        if not rest or rest[0] not in names:
            raise ValueError(f"aws {service} wait: no waiter {rest[:1]}")
        return model.operation_model(waiters.get_waiter(names[rest[0]]).operation), rest[1:], False
    names = {xform_name(n, "-"): n for n in model.operation_names}
    if command not in names:
        raise ValueError(f"aws {service}: no command {command!r}")
    return model.operation_model(names[command]), rest, True


def check_call(argv):
    """Problems with one call (argv after `aws`), empty when botocore's model accepts it."""
    if len(argv) < 2:
        return [f"aws {' '.join(argv)}: no command"]
    try:
        op, rest, need_required = operation_of(argv[0], argv[1], argv[2:])
    except ValueError as e:
        return [str(e)]
    members = op.input_shape.members if op.input_shape else {}
    options = {"--" + xform_name(m, "-"): shape for m, shape in members.items()}
    where = f"aws {argv[0]} {argv[1]}"
    problems = []
    given = {a for a in rest if a.startswith("--")}
    for option in given - GLOBAL_OPTIONS:
        if option in options:
            continue
        positive = "--" + option[len("--no-"):] if option.startswith("--no-") else None
        if positive in options and options[positive].type_name == "boolean":
            continue
        problems.append(f"{where}: no option {option} ({op.name})")
    if need_required and op.input_shape:
        problems += [f"{where}: required option --{xform_name(m, '-')} missing"
                     for m in op.input_shape.required_members if "--" + xform_name(m, "-") not in given]
    return problems


_STOP = re.compile(r"^(\)|\||;|&&|\|\||<|[0-9]?>.*)$")  # the end of a command: ) | ; && || or a redirection


def calls_in_script(text):
    """(line number, argv after `aws`) of every `aws ...` written in a shell script, continuation lines joined;
    commands inside double quotes (what the script tells the operator to run) included. Words are split at
    blanks, which is enough for the options: a quoted argument holding blanks would need shlex."""
    found, joined, start = [], [], 1
    for number, raw in enumerate(text.split("\n"), 1):  # continuation lines joined, numbered by their first
        if not joined:
            start = number
        joined.append(raw.rstrip("\\"))
        if raw.endswith("\\"):
            continue
        line, number, joined = " ".join(joined), start, []
        if line.lstrip().startswith("#"):
            continue
        for m in re.finditer(r'(?:^|[\s"(])aws\s+([a-z0-9-]+\s+[a-z0-9-]+.*)', line):
            argv = []
            for word in m.group(1).split():
                if _STOP.match(word):
                    break
                closes = (word.endswith('"') and not word.startswith('"')) or word.endswith(")")
                argv.append(word.rstrip('")') if closes else word)
                if closes:  # the end of the quoted text, or of the $( ) the call is in
                    break
            found.append((number, argv))
    return found


def text_output(value):
    """What `--output text` prints for a value (booleans True/False, lists tab-separated, None as None)."""
    if isinstance(value, list):
        if value and all(isinstance(v, list) for v in value):
            return "\n".join(text_output(v) for v in value)
        return "\t".join(text_output(v) for v in value)
    if isinstance(value, dict):
        return "\t".join(text_output(v) for v in value.values())
    return str(value)


def stub_main(state_path, log_path):
    """The stand-in `aws`: logs the call, checks it, answers from the state (JSON), applies --query and --output."""
    argv = sys.argv[1:]
    with open(log_path, "a") as log:
        log.write(json.dumps(argv) + "\n")
    problems = check_call(argv)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        sys.exit(252)
    with open(state_path) as f:
        state = json.load(f)
    opts, key = {}, None
    for arg in argv[2:]:
        if arg.startswith("--"):
            key = arg
            opts[key] = []
        elif key:
            opts[key].append(arg)
    answer, error = respond(state, argv, opts)
    with open(state_path, "w") as f:
        json.dump(state, f)
    if error:
        print(f"\nAn error occurred ({error[0]}): {error[1]}", file=sys.stderr)
        sys.exit(254)
    if answer is not None:
        query = opts.get("--query", [None])[0]
        result = jmespath.search(query, answer) if query else answer
        print(text_output(result) if opts.get("--output") == ["text"] else json.dumps(result))


def respond(state, argv, opts):
    """The (answer, error) of the canned AWS for the calls restore-db.sh makes; the state is mutated in place."""
    service, command = argv[0], argv[1]
    one = lambda name: opts.get(name, [None])[0]  # noqa: E731
    instances = state["instances"]
    if (service, command) == ("cloudformation", "describe-stacks"):
        outputs = state["stacks"][one("--stack-name")]
        return {"Stacks": [{"Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()]}]}, None
    if (service, command) == ("cloudformation", "describe-stack-resource"):
        physical = state["resources"].get(one("--logical-resource-id"))
        if physical is None:
            return None, ("ValidationError", f"Resource {one('--logical-resource-id')} does not exist for stack")
        return {"StackResourceDetail": {"PhysicalResourceId": physical}}, None
    if (service, command) == ("rds", "describe-db-instances"):
        name = one("--db-instance-identifier")
        if state.get("hidden", {}).get(name, 0) > 0:  # renamed, not answering to the new name yet
            state["hidden"][name] -= 1
            return None, ("DBInstanceNotFound", f"DBInstance {name} not found.")
        if name not in instances:
            return None, ("DBInstanceNotFound", f"DBInstance {name} not found.")
        return {"DBInstances": [instances[name]]}, None
    if (service, command) == ("rds", "wait"):
        name = one("--db-instance-identifier")
        return (None, None) if name in instances else (None, ("Waiter", f"{name} not found"))
    if (service, command) == ("rds", "restore-db-instance-to-point-in-time"):
        source = instances[one("--source-db-instance-identifier")]
        new = {**source, "DBInstanceIdentifier": one("--target-db-instance-identifier"), "DBInstanceStatus": "available"}
        instances[new["DBInstanceIdentifier"]] = new
        return {"DBInstance": {**new, "DBInstanceStatus": "creating"}}, None
    if (service, command) == ("rds", "modify-db-instance"):
        old, new = one("--db-instance-identifier"), one("--new-db-instance-identifier")
        instances[new] = {**instances.pop(old), "DBInstanceIdentifier": new}
        state.setdefault("hidden", {})[new] = 1
        return {"DBInstance": {"DBInstanceStatus": "renaming"}}, None
    if (service, command) == ("ecs", "update-service"):
        return {"service": {"serviceName": one("--service").rsplit("/", 1)[-1]}}, None
    if (service, command) == ("ecs", "wait"):
        return None, None
    if (service, command) == ("apprunner", "start-deployment"):
        return {"OperationId": "op-1"}, None
    return None, ("Stub", f"the stub has no answer for {service} {command}")
