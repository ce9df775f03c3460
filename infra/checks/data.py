"""What outlives a deploy: the database's protection and backups."""

from . import assertion
from .model import truthy


def set_param_default(docs, kind, prop, value):
    """Undo helper: the property's parameter default (or the literal) becomes value."""
    for doc in docs:
        for r in doc.get("Resources", {}).values():
            if r.get("Type") == kind:
                node = r["Properties"].get(prop)
                name = node.get("Ref") if isinstance(node, dict) else None
                if name in doc.get("Parameters", {}):
                    doc["Parameters"][name]["Default"] = value
                else:
                    r["Properties"][prop] = value


@assertion(lambda docs: set_param_default(docs, "AWS::RDS::DBInstance", "DeletionProtection", "false"))
def rds_deletion_protection(t):
    """Every RDS instance has deletion protection on by default."""
    dbs = t.of_type("AWS::RDS::DBInstance")
    if not dbs:
        return ["no AWS::RDS::DBInstance"]
    return [f"{name}.DeletionProtection defaults to {t.default(r['Properties'].get('DeletionProtection'))!r}"
            for name, r in dbs.items() if not truthy(t.default(r["Properties"].get("DeletionProtection")))]


@assertion(lambda docs: set_param_default(docs, "AWS::RDS::DBInstance", "BackupRetentionPeriod", 1))
def rds_backups_7_days(t):
    """Every RDS instance keeps at least 7 days of automated backups by default."""
    dbs = t.of_type("AWS::RDS::DBInstance")
    if not dbs:
        return ["no AWS::RDS::DBInstance"]
    problems = []
    for name, r in dbs.items():
        days = t.default(r["Properties"].get("BackupRetentionPeriod", 1))
        if not str(days).isdigit() or int(days) < 7:
            problems.append(f"{name}.BackupRetentionPeriod defaults to {days!r} (want 7 or more)")
    return problems
