#!/usr/bin/env bash
# Provisioning against the moto server, same run, same machine:
#   the floor (bench/aws_floor.py: straight-line boto3, no reads, no state) vs `mlinfra up`,
#   then a no-change `mlinfra up`, then `mlinfra down --delete-data`.
# Each round uses a fresh moto server. Usage: bench/aws.sh MLINFRA_BINARY STACK_FILE [ROUNDS]
set -euo pipefail
MLINFRA=$(realpath "$1"); STACK=$(realpath "$2"); ROUNDS=${3:-5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ART="$ROOT/target/lambda"
PY="$ROOT/.venv/bin/python"
now() { date +%s.%N; }
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start_moto() {
  PORT=$(free_port)
  "$ROOT/.venv/bin/moto_server" -H 127.0.0.1 -p "$PORT" >/dev/null 2>&1 &
  MOTO=$!
  for _ in $(seq 200); do (echo > /dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.05; done
  EP="http://127.0.0.1:$PORT"
}
WORK=$(mktemp -d); trap 'rm -rf "$WORK"; kill $MOTO 2>/dev/null || true' EXIT
cd "$WORK"
ml() { "$MLINFRA" -f "$STACK" --env localstack --endpoint "$EP" --artifacts "$ART" "$@"; }
declare -a FLOOR UP NOCHANGE DOWN
for i in $(seq "$ROUNDS"); do
  start_moto
  # Warm the server's service modules (moto imports each on first use) so neither side pays it.
  "$PY" -c "
import boto3, sys
kw = dict(endpoint_url='$EP', region_name='us-east-1', aws_access_key_id='test', aws_secret_access_key='test')
boto3.client('s3', **kw).list_buckets(); boto3.client('dynamodb', **kw).list_tables()
boto3.client('iam', **kw).list_roles(); boto3.client('lambda', **kw).list_functions()
boto3.client('events', **kw).list_rules(); boto3.client('apigateway', **kw).get_rest_apis()
boto3.client('sns', **kw).list_topics(); boto3.client('cloudwatch', **kw).describe_alarms()
boto3.client('sts', **kw).get_caller_identity()"
  FLOOR[$i]=$("$PY" "$ROOT/bench/aws_floor.py" "$EP" "$ART")
  t=$(now); ml up --yes -q >/dev/null; UP[$i]=$(echo "$(now) - $t" | bc)
  t=$(now); ml up --yes -q >/dev/null; NOCHANGE[$i]=$(echo "$(now) - $t" | bc)
  t=$(now); ml down --yes --delete-data -q >/dev/null; DOWN[$i]=$(echo "$(now) - $t" | bc)
  kill $MOTO; wait $MOTO 2>/dev/null || true
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
f=$(median "${FLOOR[@]}"); u=$(median "${UP[@]}"); n=$(median "${NOCHANGE[@]}"); d=$(median "${DOWN[@]}")
echo
echo "Provisioning stacks/heart-disease.yaml on the moto server (median of $ROUNDS rounds, fresh server each):"
printf '  %-44s %8.2f s\n' "boto3 straight-line script (the floor)" "$f"
printf '  %-44s %8.2f s   %.2fx the floor (target <= 1.5x)\n' "mlinfra up (plan + apply + state)" "$u" "$(echo "$u / $f" | bc -l)"
printf '  %-44s %8.2f s   (target <= 2 s)\n' "mlinfra up, no change" "$n"
printf '  %-44s %8.2f s\n' "mlinfra down --delete-data" "$d"
