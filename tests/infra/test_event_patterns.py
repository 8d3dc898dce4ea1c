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

# Which rule must take which fixture (by file name), and why. Rules are named by their SAM event.
ECS_RETIREMENT_RULE = {
    # Every AWS Health ECS task patching retirement, whatever its status or entity forms:
    # closed or malformed ones reach the function, which reports them.
    "health-ecs-faq-sample.json", "health-ecs-services-pipe.json",
    "health-ecs-services-pipe-spaced.json", "health-ecs-services-slash.json",
    "health-ecs-standalone-task.json", "health-ecs-task-short-arn.json", "health-ecs-mixed.json",
    "health-ecs-closed.json", "health-ecs-garbage-entities.json", "health-ecs-demo-account.json",
    "malformed-health-missing-event-arn.json", "malformed-health-bad-start-time.json",
}
EC2_SCHEDULED_RULE = {
    # ECS on EC2: every AWS Health EC2 scheduled event of the five codes the ECS function handles,
    # whatever its status (a closed reboot notice is how the function reactivates the instance) or
    # entity form (health-ec2-other-service's instance id is not hex: the function reports it).
    "health-ec2-instance-retirement.json", "health-ec2-persistent-retirement.json",
    "health-ec2-instance-stop.json", "health-ec2-instance-reboot.json",
    "health-ec2-instance-reboot-closed.json", "health-ec2-system-reboot.json",
    "health-ec2-other-service.json",
}
EKS_RULE = {"eks-fargate-pod-scheduled-termination.json", "malformed-eks-missing-pod-name.json"}
RULES = {"EcsRetirement": ECS_RETIREMENT_RULE, "Ec2ScheduledEvents": EC2_SCHEDULED_RULE,
         "EksFargatePodTermination": EKS_RULE}
# Each function takes what its rules take.
FUNCTION_RULES = {"EcsRetirementFunction": ("EcsRetirement", "Ec2ScheduledEvents"),
                  "EksFargatePodFunction": ("EksFargatePodTermination",)}
# Neither function: health-ecs-operational-issue (another event type), malformed-not-an-eventbridge-event
# (no source), malformed-truncated (not JSON, cannot be put).
EC2_EVENT_TYPE_CODES = [
    "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED", "AWS_EC2_PERSISTENT_INSTANCE_RETIREMENT_SCHEDULED",
    "AWS_EC2_INSTANCE_STOP_SCHEDULED", "AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED",
    "AWS_EC2_SYSTEM_REBOOT_MAINTENANCE_SCHEDULED",
]


class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags (!Ref, !Sub, …) read as plain values."""


CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def rule_patterns():
    """{SAM event name: its EventBridge rule's pattern}, for every rule of the SAM template."""
    return {event: pattern for event, (_, pattern) in _rules().items()}


def rule_functions():
    """{SAM event name: the function its rule invokes}."""
    return {event: function for event, (function, _) in _rules().items()}


def _rules():
    with open(os.path.join(ROOT, "infra", "sam", "template.yaml")) as f:
        template = yaml.load(f, Loader=CfnLoader)
    rules = {}
    for name, resource in template["Resources"].items():
        for event_name, event in (resource.get("Properties", {}).get("Events") or {}).items():
            if event["Type"] == "EventBridgeRule":
                assert event_name not in rules, f"two rules named {event_name}"
                rules[event_name] = (name, event["Properties"]["Pattern"])
    return rules


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
        self.assertEqual(set(patterns), set(RULES))
        self.assertEqual({e: f for f, events in FUNCTION_RULES.items() for e in events}, rule_functions())
        queues = {}
        for rule, pattern in patterns.items():
            url = self.sqs.create_queue(QueueName=rule)["QueueUrl"]
            arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            self.events.put_rule(Name=rule, EventPattern=json.dumps(pattern))
            self.events.put_targets(Rule=rule, Targets=[{"Id": "queue", "Arn": arn}])
            queues[rule] = url

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

        arrived = {rule: self.drain(url) for rule, url in queues.items()}
        for rule, expected in RULES.items():
            with self.subTest(rule=rule):
                self.assertEqual(arrived[rule], expected)
        # No fixture reaches a function twice (by two of its rules).
        for function, rules in FUNCTION_RULES.items():
            with self.subTest(function=function):
                taken = [name for rule in rules for name in arrived[rule]]
                self.assertEqual(len(taken), len(set(taken)), f"{function} would take a fixture twice")
        # Every EC2 scheduled-event fixture reaches the ECS function, the closed reboot notice included.
        ec2 = {n for n in os.listdir(FIXTURES) if n.startswith("health-ec2-") and n.endswith(".json")}
        ecs_function = set().union(*(arrived[r] for r in FUNCTION_RULES["EcsRetirementFunction"]))
        self.assertLessEqual(ec2, ecs_function)
        self.assertIn("health-ec2-instance-reboot-closed.json", ecs_function)

    def test_the_ecs_retirement_rule_stays_exact_and_the_ec2_rule_names_its_five_codes(self):
        patterns = rule_patterns()
        self.assertEqual(patterns["EcsRetirement"], {
            "source": ["aws.health"], "detail-type": ["AWS Health Event"],
            "detail": {"service": ["ECS"], "eventTypeCode": ["AWS_ECS_TASK_PATCHING_RETIREMENT"]}})
        self.assertEqual(patterns["Ec2ScheduledEvents"], {
            "source": ["aws.health"], "detail-type": ["AWS Health Event"],
            "detail": {"service": ["EC2"], "eventTypeCode": EC2_EVENT_TYPE_CODES}})
        # Each fixture of the EC2 rule carries one of its codes (the test above routes them).
        for name in sorted(EC2_SCHEDULED_RULE):
            with open(os.path.join(FIXTURES, name)) as f:
                detail = json.load(f)["detail"]
            with self.subTest(fixture=name):
                self.assertEqual(detail["service"], "EC2")
                self.assertIn(detail["eventTypeCode"], EC2_EVENT_TYPE_CODES)

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
        """Every statement of every role (the functions' by function name), as SAM's transform makes
        them, with every optional grant switched on (notification topic and key, task roles)."""
        from templates import sam
        from test_sam_cdk_parity import CONFIGURATIONS
        for role, statements in sam(CONFIGURATIONS["every setting changed"][0]).roles().items():
            for statement in statements:
                yield role, statement

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
        self.assertIn(("ecs-retirement", "ecs-tasks.amazonaws.com"), passed_to,
                      "the ECS function needs iam:PassRole to relaunch tasks with their roles")
        for name in ("ecs-retirement", "eks-fargate-pod"):
            self.assertIn((name, "scheduler.amazonaws.com"), passed_to, f"{name} defers through the scheduler role")

    def test_only_the_scheduler_may_assume_the_scheduler_roles(self):
        for name in ("EcsSchedulerRole", "EksSchedulerRole"):
            role = template()["Resources"][name]["Properties"]["AssumeRolePolicyDocument"]
            principals = [s["Principal"] for s in role["Statement"]]
            self.assertEqual(principals, [{"Service": "scheduler.amazonaws.com"}], name)


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
                # ECS pacing, deployments and container instances on EC2 only; CONFIRM_NOTICES too (AWS
                # Health notices: the EKS function's pod terminations are not; unset reads as off)
                missing -= {"UPDATE_SERVICE_RATE", "CLUSTER_RESOURCE_RATE", "ROLLOUT_TIMEOUT", "REPLACE_DRAINED_INSTANCES", "CONFIRM_NOTICES"}
                # the ECS preflight's clusters and roles (the EKS function runs no preflight)
                missing -= {"ECS_CLUSTER_NAMES", "PASSABLE_TASK_ROLES"}
            self.assertEqual(missing, set(), f"{name} does not set {sorted(missing)}")

    def test_each_function_runs_ten_events_at_once_by_default(self):
        t = template()
        self.assertEqual(t["Parameters"]["FunctionConcurrency"]["Default"], 10)
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


class IntrinsicLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags read as their long forms: `!Ref X` as
    {"Ref": "X"}, `!GetAtt X.Arn` as {"Fn::GetAtt": ["X", "Arn"]}, `!Sub s` as {"Fn::Sub": "s"}."""


def _intrinsic(loader, suffix, node):
    if isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        value = loader.construct_scalar(node)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


IntrinsicLoader.add_multi_constructor("!", _intrinsic)

LEDGER_ACTIONS = ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:PutItem"]
FUNCTIONS = ("EcsRetirementFunction", "EksFargatePodFunction")


def template_with_intrinsics():
    with open(os.path.join(ROOT, "infra", "sam", "template.yaml")) as f:
        return yaml.load(f, Loader=IntrinsicLoader)


class Ledger(unittest.TestCase):
    """The ledger table: what was done per (notice, resource), and who may read and record it."""

    def setUp(self):
        self.t = template_with_intrinsics()

    def test_one_ledger_table_on_demand_keyed_by_notice_and_resource(self):
        tables = {n: r for n, r in self.t["Resources"].items() if r["Type"] == "AWS::DynamoDB::Table"}
        self.assertEqual(list(tables), ["LedgerTable"])
        p = tables["LedgerTable"]["Properties"]
        self.assertEqual(p["BillingMode"], "PAY_PER_REQUEST")
        self.assertNotIn("ProvisionedThroughput", p)
        self.assertEqual(p["KeySchema"], [{"AttributeName": "notice", "KeyType": "HASH"},
                                          {"AttributeName": "resource", "KeyType": "RANGE"}])
        self.assertEqual(p["AttributeDefinitions"], [{"AttributeName": "notice", "AttributeType": "S"},
                                                     {"AttributeName": "resource", "AttributeType": "S"}])
        self.assertNotIn("TableName", p, "CloudFormation names the table, like the schedule group")

    def test_the_ledger_table_has_pitr_aws_managed_sse_and_ttl_on_expires(self):
        p = self.t["Resources"]["LedgerTable"]["Properties"]
        self.assertEqual(p["PointInTimeRecoverySpecification"], {"PointInTimeRecoveryEnabled": True})
        # The AWS-managed KMS key: SSE on, no customer key named.
        self.assertEqual(p["SSESpecification"], {"SSEEnabled": True})
        self.assertEqual(p["TimeToLiveSpecification"], {"AttributeName": "expires", "Enabled": True})

    def test_the_ledger_table_is_retained_on_deletion_and_replacement(self):
        table = self.t["Resources"]["LedgerTable"]
        self.assertEqual(table.get("DeletionPolicy"), "Retain")
        self.assertEqual(table.get("UpdateReplacePolicy"), "Retain")

    def test_both_functions_get_the_ledger_table_and_its_retention(self):
        env = self.t["Globals"]["Function"]["Environment"]["Variables"]
        self.assertEqual(env["LEDGER_TABLE"], {"Ref": "LedgerTable"})
        self.assertEqual(env["LEDGER_RETENTION"], {"Ref": "LedgerRetention"})
        for name in FUNCTIONS:  # no function overrides them
            own = (self.t["Resources"][name]["Properties"].get("Environment") or {}).get("Variables") or {}
            self.assertFalse({"LEDGER_TABLE", "LEDGER_RETENTION"} & set(own), name)
        retention = self.t["Parameters"]["LedgerRetention"]
        self.assertEqual((retention["Type"], retention["Default"]), ("String", "90d"))
        self.assertEqual(self.t["Outputs"]["LedgerTableName"]["Value"], {"Ref": "LedgerTable"})

    def test_each_function_may_only_read_and_record_items_of_the_ledger_table(self):
        for name in FUNCTIONS:
            statements = [st for policy in self.t["Resources"][name]["Properties"]["Policies"]
                          for st in policy["Statement"]]
            dynamodb = [st for st in statements
                        if any(a.startswith("dynamodb:") for a in self.actions(st))]
            self.assertEqual(len(dynamodb), 1, f"{name}: one DynamoDB statement")
            st = dynamodb[0]
            self.assertEqual(st["Effect"], "Allow")
            self.assertEqual(sorted(self.actions(st)), sorted(LEDGER_ACTIONS), name)
            self.assertEqual(len(self.actions(st)), len(LEDGER_ACTIONS), name)
            resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
            self.assertEqual(resources, [{"Fn::GetAtt": ["LedgerTable", "Arn"]}], f"{name}: the table only")
            self.assertNotIn("*", json.dumps(resources), name)
            self.assertNotIn("Condition", st, name)

    def test_nothing_else_gets_dynamodb(self):
        """Only the two functions' ledger statements name DynamoDB (the scheduler role does not;
        `remediator status` queries with the operator's own credentials)."""
        for name, resource in self.t["Resources"].items():
            props = resource.get("Properties", {})
            documents = [p for p in props.get("Policies") or [] if isinstance(p, dict)]
            if "PolicyDocument" in props:
                documents.append(props["PolicyDocument"])
            for document in documents:
                for st in document.get("Statement", []):
                    if any(a.startswith("dynamodb:") for a in self.actions(st)):
                        self.assertIn(name, FUNCTIONS, f"{name} grants {self.actions(st)}")

    @staticmethod
    def actions(statement):
        a = statement.get("Action", [])
        return a if isinstance(a, list) else [a]


ALARM_TOPIC = {"Fn::If": ["CreateAlarmTopic", {"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}]}
# The fixed logical names the functions put in the `Function` dimension (not the Lambda names).
FAILED_OUTCOME_ALARMS = {"EcsRetirementFailedOutcomesAlarm": "ecs-retirement",
                         "EksFargatePodFailedOutcomesAlarm": "eks-fargate-pod"}
UNVERIFIED_ALARMS = {"EcsRetirementUnverifiedAlarm": "ecs-retirement",
                     "EksFargatePodUnverifiedAlarm": "eks-fargate-pod"}


class Alarms(unittest.TestCase):
    """Every alarm notifies a topic; final failures of a remediation (a successful invocation)
    alarm on the EMF Outcomes metric."""

    def setUp(self):
        self.t = template_with_intrinsics()
        self.alarms = {n: r for n, r in self.t["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}

    def test_every_alarm_notifies_the_alarm_topic(self):
        # Dead letters, Errors x2, FailedOutcomes x2, Unverified x2.
        self.assertGreaterEqual(len(self.alarms), 7)
        self.assertLessEqual(set(FAILED_OUTCOME_ALARMS) | set(UNVERIFIED_ALARMS), set(self.alarms))
        for name, alarm in self.alarms.items():
            actions = alarm["Properties"].get("AlarmActions")
            self.assertTrue(actions, f"{name} has no AlarmActions: nobody hears of it")
            self.assertEqual(actions, [ALARM_TOPIC], name)
            self.assertEqual(alarm["Properties"].get("OKActions"), [ALARM_TOPIC], name)

    def test_the_alarm_topic_parameter_defaults_to_creating_one(self):
        parameter = self.t["Parameters"]["AlarmTopicArn"]
        self.assertEqual((parameter["Type"], parameter["Default"]), ("String", ""))
        self.assertEqual(self.t["Conditions"]["CreateAlarmTopic"], {"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]})
        self.assertEqual(self.t["Outputs"]["AlarmTopicArn"]["Value"], ALARM_TOPIC)

    def test_the_topic_is_created_only_without_a_given_arn_and_is_encrypted(self):
        topics = {n: r for n, r in self.t["Resources"].items() if r["Type"] == "AWS::SNS::Topic"}
        self.assertEqual(list(topics), ["AlarmTopic"])
        topic = topics["AlarmTopic"]
        self.assertEqual(topic.get("Condition"), "CreateAlarmTopic")
        # Its own key (not aws/sns, whose policy cannot let CloudWatch publish), under the same condition.
        self.assertEqual(topic["Properties"]["KmsMasterKeyId"], {"Ref": "AlarmTopicKey"})
        key = self.t["Resources"]["AlarmTopicKey"]
        self.assertEqual((key["Type"], key.get("Condition")), ("AWS::KMS::Key", "CreateAlarmTopic"))
        self.assertIs(key["Properties"]["EnableKeyRotation"], True)
        cloudwatch = [st for st in key["Properties"]["KeyPolicy"]["Statement"]
                      if st["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
        self.assertEqual(len(cloudwatch), 1)
        self.assertEqual(sorted(cloudwatch[0]["Action"]), ["kms:Decrypt", "kms:GenerateDataKey*"])
        self.assertIn("aws:SourceAccount", cloudwatch[0]["Condition"]["StringEquals"])
        policy = self.t["Resources"]["AlarmTopicPolicy"]
        self.assertEqual(policy.get("Condition"), "CreateAlarmTopic")
        self.assertEqual(policy["Properties"]["Topics"], [{"Ref": "AlarmTopic"}])
        allows = [st for st in policy["Properties"]["PolicyDocument"]["Statement"] if st["Effect"] == "Allow"]
        self.assertEqual([st["Principal"] for st in allows], [{"Service": "cloudwatch.amazonaws.com"}])
        self.assertEqual(allows[0]["Action"], "sns:Publish")
        # Anything referring to the topic or its key is conditional too (or picks it with Fn::If).
        for name, resource in self.t["Resources"].items():
            if resource.get("Condition") == "CreateAlarmTopic":
                continue
            text = json.dumps(resource).replace(json.dumps(ALARM_TOPIC), "")
            self.assertNotIn('"AlarmTopic"', text, name)
            self.assertNotIn('"AlarmTopicKey"', text, name)

    def test_each_function_has_a_failed_outcomes_alarm(self):
        watched = {}
        for name, alarm in self.alarms.items():
            p = alarm["Properties"]
            if p.get("MetricName") != "Outcomes":
                continue
            dimensions = {d["Name"]: d["Value"] for d in p["Dimensions"]}
            self.assertEqual(len(dimensions), len(p["Dimensions"]), name)
            watched[name] = dimensions.get("Function")
            self.assertEqual(dimensions, {"Function": FAILED_OUTCOME_ALARMS.get(name), "Result": "failed"}, name)
            self.assertEqual(p["Namespace"], {"Ref": "MetricsNamespace"}, name)
            self.assertEqual((p["Statistic"], p["Period"], p["EvaluationPeriods"]), ("Sum", 300, 1), name)
            self.assertEqual((p["ComparisonOperator"], p["Threshold"]), ("GreaterThanThreshold", 0), name)
            self.assertEqual(p["TreatMissingData"], "notBreaching", name)
            for hint in ("remediator status", "status=failed", "Result=retrying", "need a person", "off"):
                self.assertIn(hint, p["AlarmDescription"], name)
        self.assertEqual(watched, FAILED_OUTCOME_ALARMS)
        self.assertEqual(self.t["Parameters"]["MetricsNamespace"]["Default"], "RetirementRemediator")

    def test_the_preflight_alarms_on_high_findings_only_while_it_is_scheduled(self):
        """The default template sets no notification topic: the weekly preflight's high findings
        reach people through this alarm (EMF metric Findings, dimension set [Function, Severity])."""
        alarm = self.alarms["PreflightHighFindingsAlarm"]
        self.assertEqual(alarm.get("Condition"), "RunsPreflight")
        p = alarm["Properties"]
        self.assertEqual((p["Namespace"], p["MetricName"]), ({"Ref": "MetricsNamespace"}, "Findings"))
        dimensions = {d["Name"]: d["Value"] for d in p["Dimensions"]}
        self.assertEqual(dimensions, {"Function": "ecs-retirement", "Severity": "high"})
        self.assertEqual((p["ComparisonOperator"], p["Threshold"]), ("GreaterThanThreshold", 0))
        self.assertIn("remediator preflight", p["AlarmDescription"])

    def test_each_function_has_an_unverified_alarm(self):
        """A resource AWS will retire that the follow-up checks never saw replaced by the deadline
        (EMF metric Unverified, dimension set [Function]) pages someone, with what to do."""
        watched = {}
        for name, alarm in self.alarms.items():
            p = alarm["Properties"]
            if p.get("MetricName") != "Unverified":
                continue
            dimensions = {d["Name"]: d["Value"] for d in p["Dimensions"]}
            self.assertEqual(len(dimensions), len(p["Dimensions"]), name)
            watched[name] = dimensions.get("Function")
            self.assertEqual(dimensions, {"Function": UNVERIFIED_ALARMS.get(name)}, name)
            self.assertEqual(p["Namespace"], {"Ref": "MetricsNamespace"}, name)
            self.assertEqual((p["Statistic"], p["Period"], p["EvaluationPeriods"]), ("Sum", 300, 1), name)
            self.assertEqual((p["ComparisonOperator"], p["Threshold"]), ("GreaterThanOrEqualToThreshold", 1), name)
            self.assertEqual(p["TreatMissingData"], "notBreaching", name)
            self.assertEqual(p.get("AlarmActions"), [ALARM_TOPIC], name)
            self.assertEqual(p.get("OKActions"), [ALARM_TOPIC], name)
            for hint in ("not seen replaced", "deadline", "Check the resource", "remediator status",
                         "unverified_by_deadline", "AWS stops", "off"):
                self.assertIn(hint, p["AlarmDescription"], name)
        self.assertEqual(watched, UNVERIFIED_ALARMS)


def environment(t, name):
    """A function's environment as deployed: the Globals, then its own variables over them."""
    env = dict(t["Globals"]["Function"]["Environment"]["Variables"])
    env.update((t["Resources"][name]["Properties"].get("Environment") or {}).get("Variables") or {})
    return env


class Scheduling(unittest.TestCase):
    """One-time EventBridge Scheduler schedules (follow-up checks after acting, deferrals to a
    maintenance window) in the stack's group, run through each function's own scheduler role."""

    SCHEDULER_ROLE = {"EcsRetirementFunction": "EcsSchedulerRole", "EksFargatePodFunction": "EksSchedulerRole"}

    def role(self, name):
        return {"Fn::GetAtt": [self.SCHEDULER_ROLE[name], "Arn"]}

    def setUp(self):
        self.t = template_with_intrinsics()

    def test_both_functions_get_the_scheduler_role_group_and_follow_up_settings(self):
        for name in FUNCTIONS:
            env = environment(self.t, name)
            self.assertEqual(env.get("SCHEDULE_ROLE_ARN"), self.role(name), f"{name}: no follow-up checks without it")
            self.assertEqual(env.get("SCHEDULE_GROUP"), {"Ref": "ScheduleGroup"}, name)
            self.assertEqual(env.get("FOLLOW_UP_CHECKS"), {"Ref": "FollowUpChecks"}, name)
            self.assertEqual(env.get("FOLLOW_UP_FIRST"), {"Ref": "FollowUpFirst"}, name)
            self.assertEqual(env.get("FOLLOW_UP_MAX"), {"Ref": "FollowUpMax"}, name)
            self.assertNotIn("SCHEDULE_TARGET_ARN", env, f"{name}: schedules target the invoked function")
        parameters = self.t["Parameters"]
        self.assertEqual(parameters["FollowUpChecks"]["Default"], "on")
        self.assertEqual(sorted(parameters["FollowUpChecks"]["AllowedValues"]), ["off", "on"])
        for parameter, default in (("FollowUpFirst", "5m"), ("FollowUpMax", "60m"), ("RolloutTimeout", "30m")):
            self.assertEqual((parameters[parameter]["Type"], parameters[parameter]["Default"]), ("String", default))
            self.assertRegex(default, parameters[parameter]["AllowedPattern"], parameter)

    def test_only_the_ecs_function_gets_replace_drained_instances_false_by_default(self):
        self.assertEqual(environment(self.t, "EcsRetirementFunction").get("REPLACE_DRAINED_INSTANCES"),
                         {"Ref": "ReplaceDrainedInstances"})
        self.assertNotIn("REPLACE_DRAINED_INSTANCES", environment(self.t, "EksFargatePodFunction"))
        parameter = self.t["Parameters"]["ReplaceDrainedInstances"]
        self.assertEqual((parameter["Type"], parameter["Default"]), ("String", "false"))
        self.assertEqual(sorted(parameter["AllowedValues"]), ["false", "true"])
        self.assertEqual(self.t["Conditions"]["ReplacesDrainedInstances"],
                         {"Fn::Equals": [{"Ref": "ReplaceDrainedInstances"}, "true"]})

    def test_only_the_ecs_function_gets_the_rollout_timeout(self):
        self.assertEqual(environment(self.t, "EcsRetirementFunction").get("ROLLOUT_TIMEOUT"),
                         {"Ref": "RolloutTimeout"})
        self.assertNotIn("ROLLOUT_TIMEOUT", environment(self.t, "EksFargatePodFunction"))

    def test_each_scheduler_role_may_invoke_its_own_function_only(self):
        for name in FUNCTIONS:
            scheduler_role = self.SCHEDULER_ROLE[name]
            statements = []
            role = self.t["Resources"][scheduler_role]["Properties"]
            for policy in role.get("Policies") or []:
                statements += policy["PolicyDocument"]["Statement"]
            for resource in self.t["Resources"].values():
                if resource["Type"] == "AWS::IAM::Policy" and {"Ref": scheduler_role} in resource["Properties"]["Roles"]:
                    statements += resource["Properties"]["PolicyDocument"]["Statement"]
            invocable = []
            for st in statements:
                if st["Effect"] == "Allow" and "lambda:InvokeFunction" in Ledger.actions(st):
                    self.assertNotIn("Condition", st)
                    invocable += st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
            self.assertEqual(invocable, [{"Fn::GetAtt": [name, "Arn"]}, {"Fn::Sub": f"${{{name}.Arn}}:*"}],
                             f"{scheduler_role} invokes {name} (and its qualified ARNs) only")

    def test_each_function_creates_check_and_window_schedules_in_the_group_passing_only_the_scheduler_role(self):
        group = "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/${ScheduleGroup}/"
        for name in FUNCTIONS:
            statements = [st for policy in self.t["Resources"][name]["Properties"]["Policies"]
                          for st in policy["Statement"]]
            create = [st for st in statements if any(a.startswith("scheduler:") for a in Ledger.actions(st))]
            self.assertEqual(len(create), 1, name)
            self.assertEqual(Ledger.actions(create[0]), ["scheduler:CreateSchedule"], name)
            self.assertEqual(sorted(r["Fn::Sub"] for r in create[0]["Resource"]),
                             [group + "check-*", group + "retirement-*"], name)
            passes = [st for st in statements if "iam:PassRole" in Ledger.actions(st)
                      and st["Condition"]["StringEquals"]["iam:PassedToService"] == "scheduler.amazonaws.com"]
            self.assertEqual(len(passes), 1, name)
            self.assertEqual(passes[0]["Resource"], self.role(name), f"{name}: its own scheduler role exactly")


if __name__ == "__main__":
    unittest.main()
