"""The EventBridge rule patterns of infra/sam/template.yaml, checked in moto's EventBridge.

Each rule gets an SQS queue as its target; every fixture in events-fixtures/ is put on the bus;
what arrives in each queue must be exactly the fixtures that rule should match.
Run: .venv/bin/python -m unittest discover -s tests/infra (make test does).
"""

import json
import os
import socket
import unittest

import boto3
import yaml
from moto.server import ThreadedMotoServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "events-fixtures")

# Which rule must take which fixture (by file name), and why.
ECS_RULE = {
    # Every AWS Health ECS task patching retirement, whatever its status or entity forms:
    # closed or malformed ones reach the function, which reports them.
    "health-ecs-faq-sample.json", "health-ecs-services-pipe.json",
    "health-ecs-services-pipe-spaced.json", "health-ecs-services-slash.json",
    "health-ecs-standalone-task.json", "health-ecs-task-short-arn.json", "health-ecs-mixed.json",
    "health-ecs-closed.json", "health-ecs-garbage-entities.json", "health-ecs-demo-account.json",
    "malformed-health-missing-event-arn.json", "malformed-health-bad-start-time.json",
}
EKS_RULE = {"eks-fargate-pod-scheduled-termination.json", "malformed-eks-missing-pod-name.json"}
# Neither: health-ec2-other-service, health-ecs-operational-issue (other event types),
# malformed-not-an-eventbridge-event (no source), malformed-truncated (not JSON, cannot be put).


class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags (!Ref, !Sub, …) read as plain values."""


CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def rule_patterns():
    with open(os.path.join(ROOT, "infra", "sam", "template.yaml")) as f:
        template = yaml.load(f, Loader=CfnLoader)
    patterns = {}
    for name, resource in template["Resources"].items():
        for event_name, event in (resource.get("Properties", {}).get("Events") or {}).items():
            if event["Type"] == "EventBridgeRule":
                patterns[name] = event["Properties"]["Pattern"]
    return patterns


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EventPatterns(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.port = free_port()
        cls.server = ThreadedMotoServer(ip_address="127.0.0.1", port=cls.port, verbose=False)
        cls.server.start()
        kwargs = dict(region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{cls.port}",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
        cls.events = boto3.client("events", **kwargs)
        cls.sqs = boto3.client("sqs", **kwargs)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_each_rule_takes_exactly_its_fixtures(self):
        patterns = rule_patterns()
        self.assertEqual(set(patterns), {"EcsRetirementFunction", "EksFargatePodFunction"})
        queues = {}
        for function, pattern in patterns.items():
            url = self.sqs.create_queue(QueueName=function)["QueueUrl"]
            arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            self.events.put_rule(Name=function, EventPattern=json.dumps(pattern))
            self.events.put_targets(Rule=function, Targets=[{"Id": "queue", "Arn": arn}])
            queues[function] = url

        for name in sorted(os.listdir(FIXTURES)):
            if not name.endswith(".json"):
                continue
            try:
                with open(os.path.join(FIXTURES, name)) as f:
                    event = json.load(f)
            except json.JSONDecodeError:
                continue  # not JSON: nothing could put it on a bus
            if "source" not in event or "detail-type" not in event:
                continue  # not an event: PutEvents needs both
            detail = dict(event.get("detail") or {})
            detail["fixtureName"] = name  # to tell arrivals apart; no pattern looks at it
            self.events.put_events(Entries=[{
                "Source": event["source"], "DetailType": event["detail-type"],
                "Resources": event.get("resources") or [], "Detail": json.dumps(detail),
            }])

        arrived = {function: self.drain(url) for function, url in queues.items()}
        self.assertEqual(arrived["EcsRetirementFunction"], ECS_RULE)
        self.assertEqual(arrived["EksFargatePodFunction"], EKS_RULE)

    def drain(self, url):
        names = set()
        while True:
            messages = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return names
            for m in messages:
                names.add(json.loads(m["Body"])["detail"]["fixtureName"])
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


class LeastPrivilege(unittest.TestCase):
    def statements(self):
        with open(os.path.join(ROOT, "infra", "sam", "template.yaml")) as f:
            template = yaml.load(f, Loader=CfnLoader)
        for name, resource in template["Resources"].items():
            for policy in resource.get("Properties", {}).get("Policies") or []:
                for statement in policy.get("Statement", []):
                    yield name, statement

    def test_no_statement_allows_a_wildcard_action(self):
        for name, statement in self.statements():
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            for action in actions:
                self.assertNotIn("*", action, f"{name}/{statement.get('Sid')}: {action}")

    def test_pass_role_only_to_ecs_tasks_and_to_scheduler(self):
        passed_to = set()
        for name, statement in self.statements():
            if "iam:PassRole" in statement["Action"]:
                service = statement["Condition"]["StringEquals"]["iam:PassedToService"]
                self.assertIn(service, {"ecs-tasks.amazonaws.com", "scheduler.amazonaws.com"})
                passed_to.add((name, service))
        self.assertIn(("EcsRetirementFunction", "ecs-tasks.amazonaws.com"), passed_to,
                      "the ECS function needs iam:PassRole to relaunch tasks with their roles")
        for name in ("EcsRetirementFunction", "EksFargatePodFunction"):
            self.assertIn((name, "scheduler.amazonaws.com"), passed_to, f"{name} defers through the scheduler role")

    def test_only_the_scheduler_may_assume_the_scheduler_role(self):
        role = template()["Resources"]["SchedulerRole"]["Properties"]["AssumeRolePolicyDocument"]
        principals = [s["Principal"] for s in role["Statement"]]
        self.assertEqual(principals, [{"Service": "scheduler.amazonaws.com"}])


def template():
    with open(os.path.join(ROOT, "infra", "sam", "template.yaml")) as f:
        return yaml.load(f, Loader=CfnLoader)


class Settings(unittest.TestCase):
    def test_every_setting_the_functions_read_is_set_by_the_template(self):
        """Each environment variable crates/lambda/src/config.rs reads is set for both functions
        (SCHEDULE_TARGET_ARN excepted: unset, a schedule targets the invoked function itself;
        EKS_ENDPOINT_URL excepted: it points at a local fake API server, never set in AWS)."""
        import re
        with open(os.path.join(ROOT, "crates", "lambda", "src", "config.rs")) as f:
            read = set(re.findall(r'get\("([A-Z_]+)"\)', f.read()))
        self.assertIn("MAINTENANCE_WINDOWS", read)
        t = template()
        globals_env = set(t["Globals"]["Function"]["Environment"]["Variables"])
        for name in ("EcsRetirementFunction", "EksFargatePodFunction"):
            own = set(((t["Resources"][name]["Properties"].get("Environment") or {}).get("Variables") or {}))
            missing = read - {"SCHEDULE_TARGET_ARN", "EKS_ENDPOINT_URL"} - globals_env - own
            if name == "EksFargatePodFunction":
                missing -= {"UPDATE_SERVICE_RATE"}  # ECS pacing only
            self.assertEqual(missing, set(), f"{name} does not set {sorted(missing)}")

    def test_each_function_runs_one_event_at_a_time_by_default(self):
        t = template()
        self.assertEqual(t["Parameters"]["FunctionConcurrency"]["Default"], 1)
        self.assertIn("ReservedConcurrentExecutions", t["Globals"]["Function"])

    def test_the_dashboard_body_is_json_over_the_outcome_metrics(self):
        """The !Sub'd DashboardBody, with every ${...} filled in, is valid JSON whose widgets
        search the EMF metrics the functions emit."""
        import re

        class SubLoader(yaml.SafeLoader):
            pass

        def construct(loader, suffix, node):
            if isinstance(node, yaml.SequenceNode):
                return loader.construct_sequence(node, deep=True)
            if isinstance(node, yaml.MappingNode):
                return loader.construct_mapping(node, deep=True)
            return loader.construct_scalar(node)

        SubLoader.add_multi_constructor("!", construct)
        with open(os.path.join(ROOT, "infra", "sam", "template.yaml")) as f:
            t = yaml.load(f, Loader=SubLoader)
        dashboard = t["Resources"]["Dashboard"]
        self.assertEqual(dashboard["Type"], "AWS::CloudWatch::Dashboard")
        body_template = dashboard["Properties"]["DashboardBody"][0]
        body = json.loads(re.sub(r"\$\{[A-Za-z0-9:.]+\}", "X", body_template))
        text = json.dumps(body)
        for metric in ("Outcomes", "TimeToRemediate", "HeadroomBeforeRetirement"):
            self.assertIn(f'MetricName=\\"{metric}\\"', text)
        self.assertGreaterEqual(len(body["widgets"]), 5)


if __name__ == "__main__":
    unittest.main()
