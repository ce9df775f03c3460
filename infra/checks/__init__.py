"""Assertions on the CloudFormation templates that a linter cannot know, one module per concern.

Each assertion guards a fix (named in its docstring), returns a list of problems (empty = holds) and is
registered with the function that undoes its fix in memory, so that the self-test can check that it
fails on the template from before that fix. Run through infra/check_templates.py.
"""

ASSERTIONS = []  # in registration order
UNDO = {}  # assertion -> fn(docs) that breaks its fix again (docs: the decoded templates, mutated in place)


def assertion(undo):
    """Registers an assertion together with the function that undoes its fix."""

    def register(fn):
        ASSERTIONS.append(fn)
        UNDO[fn] = undo
        return fn

    return register


def load_all():
    """Imports every module of assertions (registration happens on import)."""
    from . import platform, https, host, data, alarms, watch, runbook  # noqa: F401
