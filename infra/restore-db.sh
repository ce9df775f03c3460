#!/usr/bin/env bash
# Point-in-time restore of adrec's database (RDS PostgreSQL of the base stack), in three steps that an
# operator runs in this order (infra/README.md, "Restore the database to a point in time"):
#
#   infra/restore-db.sh restore 2026-12-01T03:00:00Z   # or `latest`: a NEW instance <id>-pitr-<stamp>, as of
#                                                      # that time, configured like the current one; waits
#   infra/restore-db.sh swap <id>-pitr-<stamp>         # current -> <id>-old-<stamp>, the restored one -> <id>:
#                                                      # same endpoint, so DATABASE_URL and Airflow need no
#                                                      # change; then restarts the service
#   infra/restore-db.sh verify <advertiser_id>         # /readyz and /recommendations through the service URL
#
# Nothing is deleted: the old instance stays (deletion protection on) until you delete it yourself.
# Env: BASE_STACK (adrec-base), SERVICE_STACK (adrec), and the AWS CLI's own (AWS_REGION, AWS_PROFILE).
# Tested offline by infra/tests/restore_db_test.py (a stub `aws` that checks every call against botocore's
# models and the order of the calls), run by scripts/deploy-check.sh.
set -euo pipefail

BASE_STACK=${BASE_STACK:-adrec-base}
SERVICE_STACK=${SERVICE_STACK:-adrec}
WAIT_TRIES=${RESTORE_WAIT_TRIES:-120} # x 15 s: how long a renamed instance may take to answer to its new name

usage() {
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

output() { # output STACK KEY
    aws cloudformation describe-stacks --stack-name "$1" \
        --query "Stacks[0].Outputs[?OutputKey=='$2'].OutputValue" --output text
}

resource() { # resource LOGICAL_ID: a physical id of the service stack, empty when it has no such resource
    aws cloudformation describe-stack-resource --stack-name "$SERVICE_STACK" --logical-resource-id "$1" \
        --query StackResourceDetail.PhysicalResourceId --output text 2> /dev/null || true
}

instance_field() { # instance_field ID QUERY
    aws rds describe-db-instances --db-instance-identifier "$1" --query "DBInstances[0].$2" --output text
}

wait_for_name() { # wait_for_name ID: until a (renamed) instance answers to ID, then until it is available
    local tries=0
    until aws rds describe-db-instances --db-instance-identifier "$1" > /dev/null 2>&1; do
        ((++tries < WAIT_TRIES)) || { echo "restore-db: no instance $1 after $((WAIT_TRIES * 15)) s" >&2; exit 1; }
        sleep 15
    done
    aws rds wait db-instance-available --db-instance-identifier "$1"
}

restore() { # restore TIME|latest
    local when=${1:?restore needs a time (UTC, e.g. 2026-12-01T03:00:00Z) or latest}
    local source target subnets params class storage multi ceiling ca groups
    source=$(output "$BASE_STACK" DatabaseInstanceId)
    target="$source-pitr-$(date -u +%Y%m%d%H%M)"
    echo "restore-db: $source can be restored up to $(instance_field "$source" LatestRestorableTime) (UTC)"
    read -r subnets params class storage multi ceiling ca < <(instance_field "$source" \
        '[DBSubnetGroup.DBSubnetGroupName,DBParameterGroups[0].DBParameterGroupName,DBInstanceClass,StorageType,MultiAZ,MaxAllocatedStorage,CACertificateIdentifier]')
    read -r -a groups < <(instance_field "$source" 'VpcSecurityGroups[].VpcSecurityGroupId')
    local point=(--restore-time "$when")
    if [[ $when == latest ]]; then point=(--use-latest-restorable-time); fi
    local az=(--no-multi-az)
    if [[ $multi == True ]]; then az=(--multi-az); fi
    echo "restore-db: restoring $source as of $when to $target (about 15 minutes)"
    aws rds restore-db-instance-to-point-in-time --source-db-instance-identifier "$source" \
        --target-db-instance-identifier "$target" "${point[@]}" \
        --db-subnet-group-name "$subnets" --vpc-security-group-ids "${groups[@]}" \
        --db-parameter-group-name "$params" --db-instance-class "$class" --storage-type "$storage" \
        --max-allocated-storage "$ceiling" "${az[@]}" --ca-certificate-identifier "$ca" \
        --no-publicly-accessible --deletion-protection --copy-tags-to-snapshot --manage-master-user-password \
        --query DBInstance.DBInstanceStatus --output text
    aws rds wait db-instance-available --db-instance-identifier "$target"
    echo "restore-db: $target is available. Next: infra/restore-db.sh swap $target"
}

restart_service() {
    local cluster service runner
    service=$(resource EcsService)
    if [[ -n $service && $service != None ]]; then
        cluster=$(resource EcsCluster)
        aws ecs update-service --cluster "$cluster" --service "$service" --force-new-deployment \
            --query service.serviceName --output text
        aws ecs wait services-stable --cluster "$cluster" --services "$service"
        return
    fi
    runner=$(resource AppRunnerService)
    aws apprunner start-deployment --service-arn "$runner" --query OperationId --output text
}

swap() { # swap RESTORED_ID
    local restored=${1:?swap needs the restored instance id that restore printed} source old status
    source=$(output "$BASE_STACK" DatabaseInstanceId)
    old="$source-old-$(date -u +%Y%m%d%H%M)"
    status=$(instance_field "$restored" DBInstanceStatus)
    [[ $status == available ]] || { echo "restore-db: $restored is $status, not available" >&2; exit 1; }
    echo "restore-db: renaming $source -> $old, then $restored -> $source (the service sees errors meanwhile)"
    aws rds modify-db-instance --db-instance-identifier "$source" --new-db-instance-identifier "$old" \
        --apply-immediately --query DBInstance.DBInstanceStatus --output text
    wait_for_name "$old"
    aws rds modify-db-instance --db-instance-identifier "$restored" --new-db-instance-identifier "$source" \
        --apply-immediately --query DBInstance.DBInstanceStatus --output text
    wait_for_name "$source"
    restart_service
    echo "restore-db: $source is the restored database. Next: infra/restore-db.sh verify <advertiser_id>"
    echo "restore-db: the replaced one is $old (deletion protection on); delete it once verified:"
    echo "  aws rds modify-db-instance --db-instance-identifier $old --no-deletion-protection --apply-immediately"
    echo "  aws rds delete-db-instance --db-instance-identifier $old --final-db-snapshot-identifier $old-final"
}

verify() { # verify ADVERTISER_ID
    local advertiser=${1:?verify needs an advertiser id that has recommendations} url
    url=$(output "$SERVICE_STACK" ServiceUrl)
    curl -fsS --retry 10 --retry-delay 6 --retry-all-errors "$url/readyz"
    echo
    curl -fsS "$url/recommendations/$advertiser/TopCTR" | head -c 400
    echo
    echo "restore-db: $url answers from the restored database"
}

case "${1:-}" in
    restore | swap | verify) "$1" "${@:2}" ;;
    *) usage ;;
esac
