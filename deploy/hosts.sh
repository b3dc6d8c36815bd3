#!/bin/sh
# The deployment of compose.yaml as plain commands, one role per machine:
#
#   deploy/hosts.sh ray-head                 # the Ray head (also runs tasks)
#   deploy/hosts.sh ray-worker               # every further Ray machine
#   deploy/hosts.sh node                     # every server node (behind the load balancer)
#
# PostgreSQL and the S3-compatible store are whatever you already run; point the variables below at
# them. Every machine that runs openpersonalize code (Ray machines included: their tasks read and
# write the object store and the database themselves) needs the same Python, Ray and openpersonalize:
#   pip install 'openpersonalize[postgres,ray]'
set -eu

# every machine: the server reads it, Ray's batch tasks take the password from it (never from their arguments)
export OPENPERSONALIZE_DATABASE_URL="${OPENPERSONALIZE_DATABASE_URL:-postgresql+psycopg://op:op@db.internal/op}"
: "${OBJECT_STORE:=s3://openpersonalize/prod}"
: "${RAY_HEAD:=ray-head.internal:6379}"
: "${DATA_DIR:=/var/lib/openpersonalize}"
export OPENPERSONALIZE_S3_ENDPOINT_URL="${OPENPERSONALIZE_S3_ENDPOINT_URL:-http://minio.internal:9000}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:?the object store credentials}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:?the object store credentials}"

case "${1:-}" in
ray-head)
    exec ray start --head --port "${RAY_HEAD##*:}" --include-dashboard=false --disable-usage-stats --block
    ;;
ray-worker)
    exec ray start --address "$RAY_HEAD" --disable-usage-stats --block
    ;;
node)
    : "${OPENPERSONALIZE_ACCESS_KEY_ID:?the key id clients sign with}"
    : "${OPENPERSONALIZE_SECRET_ACCESS_KEY:?the secret clients sign with}"
    # A node joins the cluster as a Ray node of its own without CPUs for tasks (a Ray driver must run
    # on a cluster machine); ray://HEAD:10001 (Ray Client) works instead where that is not wanted.
    ray start --address "$RAY_HEAD" --num-cpus 0 --disable-usage-stats
    RAY_ADDRESS="$RAY_HEAD" exec openpersonalize serve --host 0.0.0.0 --port 8080 --data-dir "$DATA_DIR" \
        --object-store "$OBJECT_STORE" --executor ray
    ;;
*)
    echo "usage: $0 ray-head | ray-worker | node" >&2
    exit 2
    ;;
esac
