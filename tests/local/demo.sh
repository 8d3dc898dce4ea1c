#!/usr/bin/env bash
# make demo: a local AWS (moto), a seeded demo account, one retirement notice replayed through
# the real ecs-retirement Lambda with cargo lambda (watch + invoke), the outcome table, and the
# deployment ids before and after. Everything runs on loopback and is stopped at the end.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
venv="$root/.venv"
target="${CARGO_TARGET_DIR:-$root/target}"
fixture="${FIXTURE:-events-fixtures/health-ecs-demo-account.json}"
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() { # host port what log: until something accepts connections on the port
    for _ in $(seq 1 300); do
        if python3 -c 'import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1)' "$1" "$2" 2>/dev/null; then return 0; fi
        sleep 0.2
    done
    echo "demo: $3 did not come up; the end of its log:" >&2
    tail -n 20 "$4" >&2 || true
    exit 1
}

moto_port=$(free_port)
"$venv/bin/moto_server" -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
pids+=($!)
wait_for 127.0.0.1 "$moto_port" "moto server" "$work/moto.log"
echo "== local AWS: moto server on 127.0.0.1:$moto_port"

export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port"
export AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE

"$target/debug/demo-account" seed --event-in "$root/$fixture" --event-out "$work/event.json" --state "$work/before.json"

lambda_port=$(free_port)
echo "== cargo lambda watch on 127.0.0.1:$lambda_port, invoking ecs-retirement with $fixture"
(cd "$root" && PATH="$venv/bin:$PATH" cargo lambda watch --ignore-changes \
    -A 127.0.0.1 -P "$lambda_port" \
    --env-var "AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL" --env-var AWS_ACCESS_KEY_ID=demo \
    --env-var AWS_SECRET_ACCESS_KEY=demo --env-var AWS_REGION=us-east-1 \
    --env-var AWS_EC2_METADATA_DISABLED=true >"$work/watch.log" 2>&1) &
pids+=($!)
wait_for 127.0.0.1 "$lambda_port" "cargo lambda watch" "$work/watch.log"

invoke() { # report-file
    if ! PATH="$venv/bin:$PATH" cargo lambda invoke ecs-retirement -A 127.0.0.1 -P "$lambda_port" \
        --data-file "$work/event.json" --output-format json >"$1" 2>"$work/invoke.err"; then
        echo "demo: the invocation failed:" >&2
        cat "$work/invoke.err" >&2
        echo "--- function log:" >&2
        tail -n 40 "$work/watch.log" >&2
        exit 1
    fi
}

invoke "$work/report.json"
echo
echo "== outcome report (the Lambda's response)"
"$target/debug/remediator" show --report "$work/report.json" || true
echo
echo "== ECS deployments in the demo account"
"$target/debug/demo-account" compare --state "$work/before.json"

echo
echo "== the same event delivered again (EventBridge delivers at least once)"
invoke "$work/report-again.json"
"$target/debug/remediator" show --report "$work/report-again.json" || true
