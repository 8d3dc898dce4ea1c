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
    # Children first (cargo lambda watch runs the functions as its children), then the process.
    for pid in "${pids[@]}"; do pkill -P "$pid" 2>/dev/null || true; kill "$pid" 2>/dev/null || true; done
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

step_no=0
step() { # title why: one numbered step of the story, and the one sentence of why it matters
    step_no=$((step_no + 1))
    echo
    echo "── $step_no. $1"
    echo "   $2"
}

moto_port=$(free_port)
# moto runs in the test kit's helper, whose stdin takes control commands (see
# crates/testkit/moto_server.py): the demo needs two of them that no AWS API offers.
mkfifo "$work/moto.ctl"
exec 3<>"$work/moto.ctl"
"$venv/bin/python" "$root/crates/testkit/moto_server.py" "$moto_port" <"$work/moto.ctl" >"$work/moto.answers" 2>"$work/moto.log" &
pids+=($!)
wait_for 127.0.0.1 "$moto_port" "moto server" "$work/moto.log"
step "A local AWS and a demo account" "moto on 127.0.0.1:$moto_port stands in for the account: clusters with rolling, blue/green and risky services, a standalone task."
moto_control() { # command... -> prints the answer's words after "ok"
    local before
    before=$(grep -c '' "$work/moto.answers" || true)
    echo "$*" >&3
    for _ in $(seq 1 100); do
        if [ "$(grep -c '' "$work/moto.answers" || true)" -gt "$before" ]; then
            local answer
            answer=$(tail -n 1 "$work/moto.answers")
            case "$answer" in ok*) echo "${answer#ok}"; return 0 ;; *) echo "demo: moto control: $answer" >&2; exit 1 ;; esac
        fi
        sleep 0.1
    done
    echo "demo: moto control did not answer" >&2
    exit 1
}

export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port"
export AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE

read -r subnet_a subnet_b security_group <<<"$(moto_control network us-east-1)"
# moto moves a task one step towards STOPPED each time it is described unless told otherwise.
python3 -c 'import json, sys, urllib.request
urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/moto-api/state-manager/set-transition",
    data=json.dumps({"model_name": "ecs::task", "transition": {"progression": "manual", "times": 1000000}}).encode(),
    headers={"Content-Type": "application/json"}))' "$AWS_ENDPOINT_URL"
previous=$("$target/debug/demo-account" seed --event-in "$root/$fixture" --event-out "$work/event.json" \
    --state "$work/before.json" --subnets "$subnet_a,$subnet_b" --security-group "$security_group")
# The blue/green service's earlier release has finished (moto leaves every deployment `Created`).
moto_control codedeploy-status 123456789012 us-east-1 "$previous" Succeeded >/dev/null
# The risky services' deployment configurations (moto's CreateService drops them): what the
# preflight flags before any notice.
moto_control ecs-deployment-config 123456789012 us-east-1 batch nightly-report 0 100 on >/dev/null
moto_control ecs-deployment-config 123456789012 us-east-1 batch ledger-writer 100 100 on >/dev/null

# Where the operator's chat would be: an SNS topic with an SQS queue subscribed.
topic_arn=$("$venv/bin/python" - <<'PY'
import boto3
sns, sqs = boto3.client("sns"), boto3.client("sqs")
topic = sns.create_topic(Name="retirements")["TopicArn"]
sqs.create_queue(QueueName="chat")
sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint="arn:aws:sqs:us-east-1:123456789012:chat")
print(topic)
PY
)

watch() { # port log extra-env...: cargo lambda watch for the functions, on loopback
    local port=$1 log=$2
    shift 2
    local env=()
    for kv in "$@"; do env+=(--env-var "$kv"); done
    # `exec`: the recorded pid is cargo lambda's own (cargo execs its subcommands), not a subshell
    # whose children would outlive the demo.
    (cd "$root" && PATH="$venv/bin:$PATH" exec cargo lambda watch --ignore-changes \
        -A 127.0.0.1 -P "$port" \
        --env-var "AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL" --env-var AWS_ACCESS_KEY_ID=demo \
        --env-var AWS_SECRET_ACCESS_KEY=demo --env-var AWS_REGION=us-east-1 \
        --env-var AWS_EC2_METADATA_DISABLED=true "${env[@]}" >"$log" 2>&1) &
    pids+=($!)
    wait_for 127.0.0.1 "$port" "cargo lambda watch" "$log"
}

step "Preflight, before any notice" "What a retirement would hurt today, read only, while there is time to change a deployment configuration (exit 1: high findings)."
"$target/debug/remediator" preflight || true
# The pages outlive the demo's work directory: beside the build output.
pages="${DEMO_PAGES:-$target/demo-pages}"
mkdir -p "$pages"
"$target/debug/remediator" preflight --html "$pages/preflight.html" >/dev/null || true
echo

# The ledger: what was done per notice and resource (the templates create the same table).
export LEDGER_TABLE=retirement-ledger
echo "   $("$target/debug/remediator" ledger init)"

lambda_port=$(free_port)
step "AWS Health's notice reaches the real ecs-retirement function" "cargo lambda serves it on 127.0.0.1:$lambda_port with $fixture stamped now; it acts on every resource first, records each in the ledger, and schedules a follow-up check."
scheduler_role=arn:aws:iam::123456789012:role/retirement-scheduler
watch "$lambda_port" "$work/watch.log" "NOTIFICATION_TOPIC_ARN=$topic_arn" "LEDGER_TABLE=$LEDGER_TABLE" \
    "SCHEDULE_ROLE_ARN=$scheduler_role"

invoke() { # report-file [event-file] [port] [log]
    local event=${2:-$work/event.json} port=${3:-$lambda_port} log=${4:-$work/watch.log}
    if ! PATH="$venv/bin:$PATH" cargo lambda invoke ecs-retirement -A 127.0.0.1 -P "$port" \
        --data-file "$event" --output-format json >"$1" 2>"$work/invoke.err"; then
        echo "demo: the invocation failed:" >&2
        cat "$work/invoke.err" >&2
        echo "--- function log:" >&2
        tail -n 40 "$log" >&2
        exit 1
    fi
}

invoke "$work/report.json"
echo "   the report (the Lambda's response; every id in full with --json):"
"$target/debug/remediator" show --report "$work/report.json" || true
echo "   ECS deployments in the demo account, before and after:"
"$target/debug/demo-account" compare --state "$work/before.json"

step "The same event delivered again" "EventBridge delivers at least once: the ledger answers and nothing is acted on twice."
invoke "$work/report-again.json"
"$target/debug/remediator" show --report "$work/report-again.json" || true

step "AWS Health updates the notice" "Status open, a later time and prod|search added: only the new service is acted on."
"$venv/bin/python" - "$work/event.json" "$work/update-event.json" <<'PY'
import json, sys, uuid, datetime
event = json.load(open(sys.argv[1]))
event["id"] = str(uuid.uuid4())
later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
event["time"] = later.strftime("%Y-%m-%dT%H:%M:%SZ")
event["detail"]["statusCode"] = "open"
event["resources"].append("prod|search")
event["detail"]["affectedEntities"].append({"entityValue": "prod|search"})
json.dump(event, open(sys.argv[2], "w"))
PY
invoke "$work/report-update.json" "$work/update-event.json"
"$target/debug/remediator" show --report "$work/report-update.json" || true

# The input of the follow-up check a report scheduled, as EventBridge Scheduler will deliver it.
scheduled_check() { # report-file check-event-file
    "$venv/bin/python" - "$1" "$2" <<'PY'
import json, sys, boto3
report = json.load(open(sys.argv[1]))
follow_up = report.get("follow_up") or sys.exit(f"demo: {sys.argv[1]} scheduled no follow-up check")
schedule = boto3.client("scheduler").get_schedule(Name=follow_up["schedule"])
open(sys.argv[2], "w").write(schedule["Target"]["Input"])
PY
}
complete_rollouts() { # cluster/service...: ECS finishes replacing the tasks (moto cannot on its own)
    for s in "$@"; do moto_control ecs-rollout 123456789012 us-east-1 "${s%%/*}" "${s#*/}" COMPLETED >/dev/null; done
}

step "A follow-up check" "Acted is not done: once ECS has replaced the tasks and CodeDeploy finished, the scheduled check finds every resource verified."
# What the deliveries forced and redeployed, from their reports (any FIXTURE).
read -r -a forced <<<"$(python3 -c 'import json, sys
services = set()
for f in sys.argv[1:]:
    for o in json.load(open(f))["outcomes"]:
        s = o.get("service") or o["target"]  # a task of a service names its service
        if o["code"] == "forced_new_deployment" and "service" in s:
            services.add(s["cluster"] + "/" + s["service"])
print(" ".join(sorted(services)))' "$work/report.json" "$work/report-update.json")"
complete_rollouts "${forced[@]}"
for redeploy in $(python3 -c 'import json, sys
print(" ".join(o["deployment_after"] for o in json.load(open(sys.argv[1]))["outcomes"] if o["code"] == "codedeploy_deployment_created"))' "$work/report.json"); do
    moto_control codedeploy-status 123456789012 us-east-1 "$redeploy" Succeeded >/dev/null
done
scheduled_check "$work/report-update.json" "$work/check.json"
invoke "$work/report-check.json" "$work/check.json"
"$target/debug/remediator" show --report "$work/report-check.json" || true

step "A notice that arrives after AWS began" "startTime an hour ago: it acts at once (racing AWS), and a deployment still under way is followed, not failed."
"$venv/bin/python" - "$work/event.json" "$work/late-event.json" <<'PY'
import json, sys, uuid, datetime
event = json.load(open(sys.argv[1]))
now = datetime.datetime.now(datetime.timezone.utc)
health = lambda t: t.strftime("%a, %d %b %Y %H:%M:%S GMT")
event["id"] = str(uuid.uuid4())
event["time"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
event["detail"]["eventArn"] += "_late"
event["detail"]["statusCode"] = "open"
event["detail"]["startTime"] = health(now - datetime.timedelta(hours=1))
event["detail"]["endTime"] = health(now + datetime.timedelta(hours=47))
event["resources"] = ["prod|checkout"]
event["detail"]["affectedEntities"] = [{"entityValue": "prod|checkout"}]
json.dump(event, open(sys.argv[2], "w"))
PY
invoke "$work/report-late.json" "$work/late-event.json"
"$target/debug/remediator" show --report "$work/report-late.json" || true
echo "   its first check, ECS still replacing the tasks: followed, not failed"
scheduled_check "$work/report-late.json" "$work/late-check.json"
invoke "$work/report-late-check.json" "$work/late-check.json"
"$target/debug/remediator" show --report "$work/report-late-check.json" || true
echo "   its next check, once ECS has replaced them"
complete_rollouts prod/checkout
scheduled_check "$work/report-late-check.json" "$work/late-check-2.json"
invoke "$work/report-late-check-2.json" "$work/late-check-2.json"
"$target/debug/remediator" show --report "$work/report-late-check-2.json" || true

step "remediator status" "Where every notice stands in the ledger, and then every resource of one."
"$target/debug/remediator" status
"$target/debug/remediator" status --html "$pages/status.html" >/dev/null
arn=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["detail"]["eventArn"])' "$work/event.json")
echo "   and every resource of the notice:"
"$target/debug/remediator" status --event "$arn"

step "What the operator's chat received" "One summary per delivery with news and one final summary (SNS to SQS here; Chatbot custom notifications)."
"$venv/bin/python" - <<'PY'
import json, boto3
sqs = boto3.client("sqs")
url = sqs.get_queue_url(QueueName="chat")["QueueUrl"]
messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
for m in messages:
    chat = json.loads(json.loads(m["Body"])["Message"])
    print(chat["content"]["title"])
    for line in chat["content"]["description"].splitlines():
        print("   ", line)
print(f"{len(messages)} message(s)")
PY

step "Metrics" "CloudWatch EMF lines the function printed: outcomes by action and result, no API call."
"$venv/bin/python" - "$work/watch.log" <<'PY'
import json, sys
docs = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{") and '"_aws"' in line]
for d in docs:
    if "Outcomes" in d:
        print(f"  Outcomes  Action={d['Action']:<22} Result={d['Result']:<13} {d['Outcomes']}")
print(f"  {len(docs)} EMF line(s), namespace {docs[0]['_aws']['CloudWatchMetrics'][0]['Namespace']}")
PY

step "Maintenance windows" "A notice outside the window is deferred to the next window start before AWS's deadline: one schedule, found again on redelivery."
window_start=$(( ($(date -u +%-H) + 6) % 24 ))
windows=$(printf 'Daily %02d:00-%02d:00 UTC' "$window_start" $(( (window_start + 2) % 24 )))
"$venv/bin/python" - "$work/event.json" "$work/deferred-event.json" <<'PY'
import json, sys, uuid, datetime
event = json.load(open(sys.argv[1]))
event["id"] = str(uuid.uuid4())
retires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=7)
event["detail"]["startTime"] = retires.strftime("%a, %d %b %Y 00:00:00 GMT")
json.dump(event, open(sys.argv[2], "w"))
PY
deferring_port=$(free_port)
echo "   MAINTENANCE_WINDOWS='$windows', AWS retires in 7 days"
watch "$deferring_port" "$work/watch-windows.log" "MAINTENANCE_WINDOWS=$windows" \
    "SCHEDULE_ROLE_ARN=arn:aws:iam::123456789012:role/retirement-scheduler"
invoke "$work/report-deferred.json" "$work/deferred-event.json" "$deferring_port" "$work/watch-windows.log"
"$target/debug/remediator" show --report "$work/report-deferred.json" || true
invoke "$work/report-deferred-again.json" "$work/deferred-event.json" "$deferring_port" "$work/watch-windows.log"
"$venv/bin/python" - <<'PY'
import json, boto3
scheduler = boto3.client("scheduler")
schedules = scheduler.list_schedules()["Schedules"]
kinds = {"deferral": 0, "check": 0}
for s in schedules:
    full = scheduler.get_schedule(Name=s["Name"])
    event = json.loads(full["Target"]["Input"])
    if event.get("source") == "retirement-remediator":
        kinds["check"] += 1
        what = f"follow-up check {event['detail']['check']} of event {event['detail']['event']['id']}"
    else:
        kinds["deferral"] += 1
        what = f"event {event['id']}"
    print(f"   schedule {full['Name']}: {full['ScheduleExpression']} {full['ScheduleExpressionTimezone']} -> "
          f"{full['Target']['Arn']} with {what}")
print(f"   {kinds['deferral']} deferral(s) and {kinds['check']} follow-up check(s) scheduled in all "
      "(each delivery of an event finds the schedules it already made)")
PY

step "Pages to look at, and where to look further" "Self-contained HTML, open them in a browser:"
echo "   preflight: $pages/preflight.html"
echo "   status:    $pages/status.html"
echo "   remediator explain CODE     what any code above means and what to do next"
echo "   crates/core/README.md       every case per resource; infra/README.md to deploy it"
