"""The Airflow host: its AMI, its keys, its address, its install, its database bootstrap, its logs."""

import re
from pathlib import Path

from . import assertion
from .model import (as_list, branches, each_resource, find_sub_variables, host_role, hosts, load_balancer_groups,
                    mentions, role_statements, rules, strings, user_data)


def undo_ami_pin(docs):
    for doc in docs:
        for p in doc.get("Parameters", {}).values():
            if p.get("Type") == "AWS::EC2::Image::Id":
                p["Type"] = "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>"
                p["Default"] = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"


@assertion(undo_ami_pin)
def ami_pinned(t):
    """The Airflow host's AMI is an explicit id parameter, never an SSM path that CloudFormation
    re-resolves on every update (which replaced the host, and its keys, on a routine deploy)."""
    problems = []
    if not hosts(t):
        problems.append("no EC2 instance with user data (the Airflow host)")
    for name, p in t.params.items():
        if "SSM::Parameter::Value" in p.get("Type", ""):
            problems.append(f"parameter {name} is resolved from SSM ({p['Type']})")
    for name, r in t.of_type("AWS::EC2::Instance").items():
        image = r.get("Properties", {}).get("ImageId")
        param = t.target(image)
        if any("resolve:ssm" in s for s in strings(image)):
            problems.append(f"{name}.ImageId is an SSM dynamic reference")
        elif param in t.params:
            if t.params[param].get("Type") != "AWS::EC2::Image::Id":
                problems.append(f"{name}.ImageId: parameter {param} is not of type AWS::EC2::Image::Id")
        elif not (isinstance(image, str) and image.startswith("ami-")):
            problems.append(f"{name}.ImageId is neither an AMI id nor an AMI id parameter")
    return problems


KEY_SETTINGS = ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY")
KEY_GENERATORS = ("os.urandom", "secrets.token_", "Fernet.generate_key", "openssl rand", "/dev/urandom")


def readable_secrets(t, host):
    """Logical ids of the secrets the host's role may read."""
    return {t.target(res) for st in role_statements(t, host_role(t, host))
            if "secretsmanager:GetSecretValue" in as_list(st.get("Action", []))
            for res in as_list(st["Resource"])}


def undo_airflow_keys(docs):
    for _, r in each_resource(docs):
        data = r.get("Properties", {}).get("UserData")
        if data is not None:
            data["Fn::Base64"]["Fn::Join"][1].append(
                "python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)))'\n")


@assertion(undo_airflow_keys)
def airflow_keys_in_secrets_manager(t):
    """Airflow's Fernet key and JWT/API secret keys come from a Secrets Manager secret that
    CloudFormation generates once and the host reads; the host generates none of them."""
    generated = {k for k, r in t.of_type("AWS::SecretsManager::Secret").items()
                 if "GenerateSecretString" in r.get("Properties", {})
                 and any("airflow-keys" in s for s in strings(r["Properties"].get("Name")))}
    if not generated:
        return ["no generated Secrets Manager secret named <ProjectName>/airflow-keys"]
    problems = []
    for host in hosts(t):
        script = user_data(t, host)
        problems += [f"{host} user data generates key material ({g})" for g in KEY_GENERATORS if g in script]
        problems += [f"{host} user data does not set {s}" for s in KEY_SETTINGS if s not in script]
        if not generated & readable_secrets(t, host):
            problems.append(f"{host}'s role cannot read the airflow-keys secret")
        if not any(t.target(v) in generated for v in find_sub_variables(t.props(host)["UserData"])):
            problems.append(f"{host} user data is not given the airflow-keys secret")
    return problems


def undo_airflow_eip(docs):
    for doc in docs:
        res = doc.get("Resources", {})
        for name in [k for k, r in res.items() if r.get("Type") in ("AWS::EC2::EIP", "AWS::EC2::EIPAssociation")]:
            del res[name]


@assertion(undo_airflow_eip)
def airflow_host_stable_ip(t):
    """The Airflow host has an Elastic IP and the ALB's security group admits it on the listener's
    port, so narrowing AlbIngressCidr never cuts Airflow off the service."""
    problems = []
    listener_ports = {port for ls in t.of_type("AWS::ElasticLoadBalancingV2::Listener").values()
                      if ls["Properties"].get("DefaultActions", [{}])[0].get("Type") == "forward"
                      for port in branches(ls["Properties"].get("Port"))}
    for host in hosts(t):
        eips = [k for k, r in t.of_type("AWS::EC2::EIP").items()
                if t.target(r.get("Properties", {}).get("InstanceId")) == host]
        eips += [t.target(r["Properties"].get("AllocationId")) for r in t.of_type("AWS::EC2::EIPAssociation").values()
                 if t.target(r["Properties"].get("InstanceId")) == host]
        if not eips:
            problems.append(f"{host} has no Elastic IP")
            continue
        for group in load_balancer_groups(t):
            admitted = set()
            for rule in rules(t, group, "ingress"):
                cidr = t.resolve(rule.get("CidrIp"))
                if any(mentions(cidr, eip) for eip in eips):
                    for lo, hi in zip(branches(rule.get("FromPort")), branches(rule.get("ToPort"))):
                        admitted |= {p for p in listener_ports if int(lo) <= int(p) <= int(hi)}
            if admitted != listener_ports:
                problems.append(f"ALB group {group} does not admit {host}'s Elastic IP on port(s) "
                                f"{sorted(listener_ports - admitted)}")
    if not load_balancer_groups(t):
        problems.append("no load balancer security group")
    return problems


REPO = Path(__file__).resolve().parents[2]
LOCK = REPO / "airflow" / "requirements.lock"


def lock_unhashed(path=LOCK):
    """The requirements of a pip lock file that carry no --hash (continuation lines joined)."""
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    reqs = [line.split(";")[0].strip() for line in text.splitlines() if line.strip() and not line.startswith(("#", "-r"))]
    return [r.split()[0] for r in reqs if "--hash=sha256:" not in r]


def pip_installs(script):
    return [m.group(0) for m in re.finditer(r"pip install(?:\\\n|[^\n])*", script)]


def undo_pip_hashes(docs):
    for _, r in each_resource(docs):
        data = r.get("Properties", {}).get("UserData")
        if data is not None:
            parts = data["Fn::Base64"]["Fn::Join"][1]
            parts[1] = parts[1].replace("--require-hashes", "")


@assertion(undo_pip_hashes)
def airflow_pip_hashes(t):
    """The host installs Airflow with `pip install --require-hashes` from airflow/requirements.lock, in
    which every requirement carries its sha256 (every pip install of the user data checks hashes)."""
    problems = [f"{LOCK.relative_to(REPO)}: no hash for {r}" for r in lock_unhashed()]
    for host in hosts(t):
        installs = pip_installs(user_data(t, host))
        if not installs:
            problems.append(f"{host}: the user data installs nothing with pip")
        problems += [f"{host}: '{i[:60]}…' checks no hashes" for i in installs
                     if "--require-hashes" not in i or "requirements.lock" not in i]
    return problems or ([] if hosts(t) else ["no Airflow host"])


def heredoc(script, path):
    """The body of `cat > path <<TAG ... TAG` in a script, or None."""
    m = re.search(r"cat > " + re.escape(path) + r" <<'?(\w+)'?\n(.*?)\n\s*\1\n", script, re.S)
    return m.group(2) if m else None


def undo_master_in_conf(docs):
    for _, r in each_resource(docs):
        data = r.get("Properties", {}).get("UserData")
        if data is not None:
            parts = data["Fn::Base64"]["Fn::Join"][1]
            parts[1] = parts[1].replace("REGION=$REGION\n", "REGION=$REGION\nMASTER_SECRET=$MASTER_SECRET\n", 1)


@assertion(undo_master_in_conf)
def db_master_secret_first_boot_only(t):
    """The RDS master secret reaches only the first boot's db_init.py, through its environment, and
    db_init.py reads it only when the service's and Airflow's logins do not work yet: it is in no file
    on the host (host.conf) and in nothing the 5-minute refresh runs."""
    problems = []
    for host in hosts(t):
        script = user_data(t, host)
        conf = heredoc(script, "/etc/adrec/host.conf")
        if conf is None or "MASTER" in conf:
            problems.append(f"{host}: host.conf {'is not written' if conf is None else 'holds the master secret'}")
        for path in ("/usr/local/lib/adrec/airflow_env.py", "/usr/local/sbin/adrec-airflow-refresh",
                     "/usr/local/lib/adrec/common.py"):
            if "MASTER" in (heredoc(script, path) or ""):
                problems.append(f"{host}: {path} reads the master secret")
        init = heredoc(script, "/usr/local/lib/adrec/db_init.py") or ""
        if 'os.environ["MASTER_SECRET"]' not in init or init.find("works(") > init.find("MASTER_SECRET\"]"):
            problems.append(f"{host}: db_init.py does not try the logins before reading the master secret")
        calls = [line for line in script.splitlines() if "db_init.py" in line and "cat >" not in line]
        if not calls or not all(line.strip().startswith('MASTER_SECRET="$MASTER_SECRET" ') for line in calls):
            problems.append(f"{host}: db_init.py is not given the master secret in its environment alone")
    return problems or ([] if hosts(t) else ["no Airflow host"])


def undo_remote_logs(docs):
    for _, r in each_resource(docs):
        data = r.get("Properties", {}).get("UserData")
        if data is not None:
            parts = data["Fn::Base64"]["Fn::Join"][1]
            parts[1] = parts[1].replace('"AIRFLOW__LOGGING__REMOTE_LOGGING": "True"', '"AIRFLOW__LOGGING__REMOTE_LOGGING": "False"')


@assertion(undo_remote_logs)
def airflow_task_logs_outlive_host(t):
    """Airflow ships its task logs to the data bucket (remote logging, s3://<bucket>/<prefix>), the host's
    role may write and read that prefix, and a lifecycle rule expires it."""
    problems = []
    for host in hosts(t):
        script = user_data(t, host)
        folder = re.search(r'"AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER": f?"s3://[^/]+/([\w-]+)"', script)
        if '"AIRFLOW__LOGGING__REMOTE_LOGGING": "True"' not in script or not folder:
            problems.append(f"{host}: Airflow's remote task logging to S3 is not on")
            continue
        prefix = folder.group(1) + "/"
        writable = [st for st in role_statements(t, host_role(t, host))
                    if "s3:PutObject" in as_list(st.get("Action")) and any(prefix + "*" in s for s in strings(st.get("Resource")))]
        if not writable:
            problems.append(f"{host}: its role cannot write {prefix}")
        expiring = [rule for b in t.of_type("AWS::S3::Bucket").values()
                    for rule in b["Properties"].get("LifecycleConfiguration", {}).get("Rules", [])
                    if rule.get("Prefix") == prefix and rule.get("ExpirationInDays")]
        if not expiring:
            problems.append(f"no lifecycle rule expires {prefix}")
    return problems or ([] if hosts(t) else ["no Airflow host"])
