"""What outlives a deploy: the database's protection and backups."""

from . import assertion
from .model import each_resource, truthy


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


def retained_buckets(t):
    return {k: r for k, r in t.of_type("AWS::S3::Bucket").items() if r.get("DeletionPolicy") == "Retain"}


def undo_versioning(docs):
    for _, r in each_resource(docs, "AWS::S3::Bucket"):
        r["Properties"].pop("VersioningConfiguration", None)
        rules = r["Properties"].get("LifecycleConfiguration", {}).get("Rules", [])
        for rule in rules:
            rule.pop("NoncurrentVersionExpiration", None)


@assertion(undo_versioning)
def s3_versioned_old_versions_expire(t):
    """The data bucket (kept when its stack is deleted) is versioned, so an overwritten or deleted raw
    log can be restored, and a bucket-wide lifecycle rule deletes old versions after a while."""
    buckets = retained_buckets(t)
    if not buckets:
        return ["no retained S3 bucket (the data bucket)"]
    problems = []
    for name, r in buckets.items():
        p = r["Properties"]
        if p.get("VersioningConfiguration", {}).get("Status") != "Enabled":
            problems.append(f"{name}: versioning is not enabled")
        bucket_wide = [rule for rule in p.get("LifecycleConfiguration", {}).get("Rules", [])
                       if rule.get("Status") == "Enabled" and "Prefix" not in rule and "Filter" not in rule]
        if not any(rule.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays") for rule in bucket_wide):
            problems.append(f"{name}: no bucket-wide lifecycle rule expires noncurrent versions")
    return problems


def undo_autoscaling(docs):
    for _, r in each_resource(docs, "AWS::RDS::DBInstance"):
        r["Properties"].pop("MaxAllocatedStorage", None)


@assertion(undo_autoscaling)
def rds_storage_autoscaling(t):
    """RDS grows its storage by itself (MaxAllocatedStorage above AllocatedStorage, by default)."""
    dbs = t.of_type("AWS::RDS::DBInstance")
    problems = [] if dbs else ["no AWS::RDS::DBInstance"]
    for name, r in dbs.items():
        allocated = int(t.default(r["Properties"].get("AllocatedStorage", 0)))
        ceiling = t.default(r["Properties"].get("MaxAllocatedStorage"))
        if ceiling is None or int(ceiling) <= allocated:
            problems.append(f"{name}: MaxAllocatedStorage {ceiling!r} does not exceed AllocatedStorage {allocated}")
        elif t.target(r["Properties"]["MaxAllocatedStorage"]) in t.params:
            param = t.params[t.target(r["Properties"]["MaxAllocatedStorage"])]
            if int(param.get("MinValue", 0)) <= allocated:
                problems.append(f"{name}: MaxAllocatedStorage's parameter allows values up to AllocatedStorage")
    return problems


def undo_multi_az(docs):
    for _, r in each_resource(docs, "AWS::RDS::DBInstance"):
        r["Properties"]["MultiAZ"] = False


@assertion(undo_multi_az)
def rds_multi_az_parameter(t):
    """Multi-AZ is a parameter (true/false), not a value fixed in the template."""
    problems = []
    for name, r in t.of_type("AWS::RDS::DBInstance").items():
        param = t.target(r["Properties"].get("MultiAZ"))
        if param not in t.params:
            problems.append(f"{name}: MultiAZ is not a parameter")
        elif sorted(t.params[param].get("AllowedValues", [])) != ["false", "true"]:
            problems.append(f"{name}: parameter {param} does not allow exactly true and false")
    return problems or ([] if t.of_type("AWS::RDS::DBInstance") else ["no AWS::RDS::DBInstance"])
