"""The SAM template and the CDK app deploy the same functions: same environment (names and values)
and the same IAM grants, for the default settings and for every setting changed at once.

The SAM side is SAM's own transform of infra/sam/template.yaml; the CDK side an offline synth of
infra/cdk (see templates.py). Without infra/cdk/node_modules these tests skip; `make cdk` installs
it and runs them again from its npm test (infra/cdk/test/parity.test.ts), where they cannot skip.
"""

import json
import re
import unittest

import templates as T

TOPIC = "arn:aws:sns:us-east-1:123456789012:retirements"
MEMBER_ROLE = "retirement-remediator-member"
EKS_MEMBER_ROLE = "retirement-remediator-eks-member"
ORGANIZATION = "o-a1b2c3d4e5"
# The SAM template turns each list parameter into ARNs one entry at a time, up to this many entries
# (CloudFormation's Fn::Join takes no function as its delimiter); the CDK app takes any number.
MAX_LIST_ENTRIES = 10
TEN_CLUSTERS = ["prod", "batch-*"] + [f"team{i}" for i in range(2, 10)]
TEN_ROLES = ["ecs-tasks/*", "app/web-task-role"] + [f"job{i}-task-role" for i in range(2, 10)]
TEN_EKS = [f"k8s-{i}" for i in range(10)]
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"

# Each configuration: (SAM parameter values, the CDK props that mean the same).
CONFIGURATIONS = {
    "defaults": ({}, {}),
    "every setting changed": ({
        "DryRun": "false", "OptInOnly": "true", "MaxConcurrency": "16", "UpdateServiceRate": "2/20",
        "ClusterResourceRate": "6/30",
        "SdkMaxAttempts": "3", "BackoffRounds": "4", "DeadlineMarginSeconds": "30",
        "EcsClusterNames": "prod,batch-*", "PassableTaskRoles": "ecs-tasks/*,app/web-task-role",
        "EksClusterNames": "k8s-prod,k8s-batch",
        "MaintenanceWindows": "Sat,Sun 02:00-05:00 Asia/Tokyo", "DeadlineMargin": "12h",
        "FollowUpChecks": "off", "FollowUpFirst": "10m", "FollowUpMax": "2h", "RolloutTimeout": "45m",
        "ReplaceDrainedInstances": "true", "NotificationTopicArn": TOPIC, "NotificationTopicKmsKeyArn": KEY,
        "MetricsNamespace": "Ops/Remediator", "LedgerRetention": "30d",
        "MemberRoleName": MEMBER_ROLE, "EksMemberRoleName": EKS_MEMBER_ROLE, "ConfirmNotices": "health-api",
        "AccountsInclude": "111111111111,222222222222",
        "AccountsExclude": "333333333333", "OrganizationId": ORGANIZATION,
        "PreflightSchedule": "cron(0 6 ? * MON *)", "OrganizationAccounts": "on",
    }, {
        "dryRun": False, "optInOnly": True, "maxConcurrency": 16, "updateServiceRate": "2/20",
        "clusterResourceRate": "6/30",
        "sdkMaxAttempts": 3, "backoffRounds": 4, "deadlineMarginSeconds": 30,
        "ecsClusterNames": ["prod", "batch-*"], "passableTaskRoles": ["ecs-tasks/*", "app/web-task-role"],
        "eksClusterNames": ["k8s-prod", "k8s-batch"],
        "maintenanceWindows": "Sat,Sun 02:00-05:00 Asia/Tokyo", "deadlineMargin": "12h",
        "followUpChecks": False, "followUpFirst": "10m", "followUpMax": "2h", "rolloutTimeout": "45m",
        "replaceDrainedInstances": True, "notificationTopicArn": TOPIC, "notificationTopicKmsKeyArn": KEY,
        "metricsNamespace": "Ops/Remediator", "ledgerRetention": "30d",
        "memberRoleName": MEMBER_ROLE, "eksMemberRoleName": EKS_MEMBER_ROLE, "confirmNotices": "health-api",
        "accountsInclude": ["111111111111", "222222222222"],
        "accountsExclude": ["333333333333"], "organizationId": ORGANIZATION,
        "preflightSchedule": "cron(0 6 ? * MON *)", "organizationAccounts": "on",
    }),
    "no scheduled preflight": ({"PreflightSchedule": "off"}, {"preflightSchedule": "off"}),
    "no task roles, one cluster": (
        {"PassableTaskRoles": "none", "EcsClusterNames": "prod", "NotificationTopicArn": TOPIC},
        {"passableTaskRoles": [], "ecsClusterNames": ["prod"], "notificationTopicArn": TOPIC},
    ),
    # Central mode with the EKS function's member role derived from MemberRoleName (NAME-eks).
    "central mode, derived EKS member role": (
        {"MemberRoleName": MEMBER_ROLE}, {"memberRoleName": MEMBER_ROLE},
    ),
    # Every list at the SAM template's limit: each entry becomes its ARN there as in the CDK app.
    "ten of each list": (
        {"EcsClusterNames": ",".join(TEN_CLUSTERS), "PassableTaskRoles": ",".join(TEN_ROLES),
         "EksClusterNames": ",".join(TEN_EKS)},
        {"ecsClusterNames": TEN_CLUSTERS, "passableTaskRoles": TEN_ROLES, "eksClusterNames": TEN_EKS},
    ),
}

# SAM parameters that set neither a function's environment nor an IAM grant (what they do set is
# not compared here): every other parameter must be changed in "every setting changed" above.
NOT_ENVIRONMENT_OR_IAM = {"RetryAttempts", "MaximumEventAgeSeconds", "AlarmTopicArn", "FunctionConcurrency",
                          "LogRetentionDays",
                          # the preflight's schedule (test_the_preflight_schedule_is_the_same)
                          "PreflightSchedule",
                          # the default bus's policy (test_the_central_bus_policy_is_the_same)
                          "OrganizationId"}


def member_role_names(params):
    """{function: the MEMBER_ROLE_NAME it gets} for these SAM parameters: the ECS function
    MemberRoleName, the EKS function EksMemberRoleName or else MemberRoleName-eks (empty: off)."""
    ecs = params.get("MemberRoleName", "")
    eks = params.get("EksMemberRoleName") or (f"{ecs}-eks" if ecs else "")
    return {"ecs-retirement": ecs, "eks-fargate-pod": eks}


def _partition(arn):
    return arn.replace("arn:aws:", "arn:${AWS::Partition}:")


class SamCdkParity(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cdk = T.cdk({name: props for name, (_, props) in CONFIGURATIONS.items()})
        cls.sam = {name: T.sam(params) for name, (params, _) in CONFIGURATIONS.items()}

    def test_every_parameter_that_reaches_a_function_is_compared(self):
        parameters = set(T.sam_template()["Parameters"])
        changed = set(CONFIGURATIONS["every setting changed"][0])
        self.assertEqual(parameters - NOT_ENVIRONMENT_OR_IAM - changed, set(),
                         "give these a non-default value (and the CDK prop meaning the same) in CONFIGURATIONS")

    def test_both_functions_get_the_same_environment(self):
        for name in CONFIGURATIONS:
            for function in T.FUNCTIONS.values():
                with self.subTest(configuration=name, function=function):
                    sam = self.sam[name].environment(function)
                    cdk = self.cdk[name].environment(function)
                    self.assertEqual((sorted(set(sam) - set(cdk)), sorted(set(cdk) - set(sam))), ([], []),
                                     "variables set by SAM only, by CDK only")
                    differ = {k: (sam[k], cdk[k]) for k in sam if k in cdk and sam[k] != cdk[k]}
                    self.assertEqual(differ, {}, "variable: (SAM value, CDK value)")

    def test_each_role_is_granted_the_same_actions_on_the_same_resources(self):
        for name in CONFIGURATIONS:
            sam_roles = self.sam[name].roles()
            cdk_roles = self.cdk[name].roles()
            self.assertEqual(sorted(sam_roles), sorted(cdk_roles), f"{name}: the roles differ")
            for role in sam_roles:
                with self.subTest(configuration=name, role=role):
                    sam = T.grants(sam_roles[role])
                    cdk = T.grants(cdk_roles[role])
                    self.assertEqual(
                        (sorted(sam - cdk), sorted(cdk - sam)), ([], []),
                        "(action, resource, condition) granted by SAM only, by CDK only",
                    )

    def test_each_function_role_has_the_same_managed_policies(self):
        for name in CONFIGURATIONS:
            for function in T.FUNCTIONS.values():
                with self.subTest(configuration=name, function=function):
                    sam = [_partition(a) for a in self.sam[name].managed_policies(function)]
                    cdk = [_partition(a) for a in self.cdk[name].managed_policies(function)]
                    self.assertEqual(sam, cdk)
                    self.assertEqual(sam, ["arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"])

    def test_the_grants_change_with_the_settings(self):
        """The comparison would be hollow if the settings did not reach the grants."""
        default = T.grants(self.sam["defaults"].roles()["ecs-retirement"])
        changed = T.grants(self.sam["every setting changed"].roles()["ecs-retirement"])
        self.assertNotEqual(default, changed)
        text = json.dumps(sorted(changed))
        for expected in ("service/prod/*", "service/batch-*/*", "service-deployment/batch-*/*/*",
                         "role/app/web-task-role", KEY, TOPIC,
                         f"iam::*:role/{MEMBER_ROLE}", "container-instance/batch-*/*",
                         "autoscaling:TerminateInstanceInAutoScalingGroup"):
            self.assertIn(expected, text)

    def test_the_central_bus_policy_is_the_same(self):
        """Forwarding mode: with an organization, both let its principals put the two retirement
        events on the default bus, the same way; without one, neither has a bus policy."""
        for name, (params, _) in CONFIGURATIONS.items():
            with self.subTest(configuration=name):
                policies = []
                for evaluated in (self.sam[name], self.cdk[name]):
                    found = {n: r for n, r in evaluated.resources.items() if r["Type"] == "AWS::Events::EventBusPolicy"}
                    self.assertLessEqual(set(found), {"CentralBusPolicy"})
                    policies.append(evaluated.value(found["CentralBusPolicy"]["Properties"]) if found else None)
                self.assertEqual(policies[0], policies[1], "(SAM, CDK)")
                if "OrganizationId" not in params:
                    self.assertIsNone(policies[0])
                    continue
                statement = policies[0]["Statement"]
                self.assertEqual(policies[0]["EventBusName"], "default")
                self.assertEqual((statement["Effect"], statement["Principal"], statement["Action"]),
                                 ("Allow", "*", "events:PutEvents"))
                self.assertEqual(statement["Resource"],
                                 "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default")
                # StringEquals: events:source and events:detail-type are single-valued (one per
                # PutEvents entry); ForAllValues would be true for a request without them.
                self.assertEqual(statement["Condition"], {
                    "StringEquals": {"aws:PrincipalOrgID": params["OrganizationId"],
                                     "events:source": ["aws.health", "aws.eks"],
                                     "events:detail-type": ["AWS Health Event", "EKS Fargate Pod Scheduled Termination"]},
                })
                self.assertNotIn("ForAllValues", json.dumps(statement))

    def test_central_mode_reaches_both_functions(self):
        for name, (params, _) in CONFIGURATIONS.items():
            for label, evaluated in (("SAM", self.sam[name]), ("CDK", self.cdk[name])):
                for function in T.FUNCTIONS.values():
                    with self.subTest(configuration=name, template=label, function=function):
                        env = evaluated.environment(function)
                        self.assertEqual(env["MEMBER_ROLE_NAME"], member_role_names(params)[function])
                        self.assertEqual(env["ACCOUNTS_INCLUDE"], params.get("AccountsInclude", ""))
                        self.assertEqual(env["ACCOUNTS_EXCLUDE"], params.get("AccountsExclude", ""))

    def test_sts_assume_role_only_in_central_mode_on_the_member_role_name_within_the_organization(self):
        for name, (params, _) in CONFIGURATIONS.items():
            for label, evaluated in (("SAM", self.sam[name]), ("CDK", self.cdk[name])):
                with self.subTest(configuration=name, template=label):
                    assume = {(role, g) for role, statements in evaluated.roles().items()
                              for g in T.grants(statements) if g[0].startswith("sts:")}
                    if "MemberRoleName" not in params:
                        self.assertEqual(assume, set())
                        continue
                    within = json.dumps({"StringEquals": {"aws:ResourceOrgID": ["${aws:PrincipalOrgID}"]}})
                    names = member_role_names(params)
                    self.assertNotEqual(names["ecs-retirement"], names["eks-fargate-pod"], "one member role per function")
                    self.assertEqual(assume, {(function, ("sts:AssumeRole", f"arn:${{AWS::Partition}}:iam::*:role/{name}", within))
                                              for function, name in names.items()},
                                     "each function its own member role, and no other role")

    def test_one_scheduler_role_per_function_and_the_same_in_both(self):
        """Each function's SCHEDULE_ROLE_ARN is its own scheduler role, which trusts EventBridge
        Scheduler for this account's schedules of the stack's group only, and may invoke that function
        only (and send undeliverable invocations to the dead-letter queue)."""
        for name in CONFIGURATIONS:
            for label, evaluated in (("SAM", self.sam[name]), ("CDK", self.cdk[name])):
                with self.subTest(configuration=name, template=label):
                    self.assertEqual(scheduler_roles(evaluated), {
                        "ecs-retirement": "EcsSchedulerRole", "eks-fargate-pod": "EksSchedulerRole"})
            sam, cdk = self.sam[name], self.cdk[name]
            for role in ("EcsSchedulerRole", "EksSchedulerRole"):
                with self.subTest(configuration=name, role=role):
                    self.assertEqual(scheduler_trust(sam, role), scheduler_trust(cdk, role), "(SAM, CDK)")

    def test_the_preflight_schedule_is_the_same(self):
        """A weekly (or configured) schedule in the stack's group invokes the ECS function with the
        preflight's payload through the ECS function's own scheduler role; none when off."""
        for name, (params, _) in CONFIGURATIONS.items():
            expected = params.get("PreflightSchedule", "rate(7 days)")
            for label, evaluated in (("SAM", self.sam[name]), ("CDK", self.cdk[name])):
                with self.subTest(configuration=name, template=label):
                    schedules = [evaluated.value(r["Properties"]) for r in evaluated.resources.values()
                                 if r["Type"] == "AWS::Scheduler::Schedule"]
                    if expected == "off":
                        self.assertEqual(schedules, [])
                        continue
                    (schedule,) = schedules
                    self.assertEqual(schedule["ScheduleExpression"], expected)
                    self.assertEqual(schedule["GroupName"], "${ScheduleGroup}")
                    target = schedule["Target"]
                    self.assertEqual(target["Arn"], "${EcsRetirementFunction.Arn}")
                    self.assertEqual(target["RoleArn"], "${EcsSchedulerRole.Arn}")
                    self.assertEqual(json.loads(target["Input"]), {"retirement-remediator": "preflight"})
                    self.assertEqual(target["DeadLetterConfig"], {"Arn": "${DeadLetterQueue.Arn}"})
                    self.assertEqual(str(target["RetryPolicy"]["MaximumRetryAttempts"]), "2")
                    window = schedule["FlexibleTimeWindow"]
                    self.assertEqual((window["Mode"], str(window["MaximumWindowInMinutes"])), ("FLEXIBLE", "60"))

    def test_the_dead_letter_queue_denies_every_sqs_action_without_tls_in_both(self):
        for name in CONFIGURATIONS:
            for label, evaluated in (("SAM", self.sam[name]), ("CDK", self.cdk[name])):
                with self.subTest(configuration=name, template=label):
                    self.assertEqual(insecure_transport_denials(evaluated), [("sqs:*", "${DeadLetterQueue.Arn}")])

    def test_confirm_notices_reaches_the_ecs_function_and_grants_health_reads_there_only(self):
        for name, (params, _) in CONFIGURATIONS.items():
            on = params.get("ConfirmNotices") == "health-api"
            for label, evaluated in (("SAM", self.sam[name]), ("CDK", self.cdk[name])):
                with self.subTest(configuration=name, template=label):
                    self.assertEqual(evaluated.environment("ecs-retirement")["CONFIRM_NOTICES"],
                                     params.get("ConfirmNotices", "off"))
                    self.assertNotIn("CONFIRM_NOTICES", evaluated.environment("eks-fargate-pod"))
                    health = {(role, g) for role, statements in evaluated.roles().items()
                              for g in T.grants(statements) if g[0].startswith("health:")}
                    self.assertEqual(health, HEALTH_GRANTS if on else set())


HEALTH_GRANTS = {("ecs-retirement", g) for g in (
    ("health:DescribeEventDetails", "arn:${AWS::Partition}:health:*::event/ECS/*/*", "{}"),
    ("health:DescribeEventDetails", "arn:${AWS::Partition}:health:*::event/EC2/*/*", "{}"),
    ("health:DescribeAffectedEntities", "arn:${AWS::Partition}:health:*::event/ECS/*/*", "{}"),
    ("health:DescribeAffectedEntities", "arn:${AWS::Partition}:health:*::event/EC2/*/*", "{}"),
    ("health:DescribeEventDetailsForOrganization", "*", "{}"),
    ("health:DescribeAffectedEntitiesForOrganization", "*", "{}"),
)}


def scheduler_roles(evaluated):
    """{function: the role its SCHEDULE_ROLE_ARN names}."""
    out = {}
    for function in T.FUNCTIONS.values():
        arn = evaluated.environment(function)["SCHEDULE_ROLE_ARN"]
        out[function] = re.fullmatch(r"\$\{(.+)\.Arn\}", arn).group(1)
    return out


def scheduler_trust(evaluated, role):
    """The scheduler role's trust policy: its one statement, conditions with sorted list values."""
    document = evaluated.value(evaluated.resources[role]["Properties"]["AssumeRolePolicyDocument"])
    (statement,) = document["Statement"]
    condition = {op: {k: sorted(v if isinstance(v, list) else [v]) for k, v in keys.items()}
                 for op, keys in statement["Condition"].items()}
    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
    return statement["Effect"], statement["Principal"], actions, condition


def insecure_transport_denials(evaluated):
    """(action, resource) of each Deny on aws:SecureTransport=false of the dead-letter queue's policies."""
    out = []
    for resource in evaluated.resources.values():
        if resource["Type"] != "AWS::SQS::QueuePolicy":
            continue
        document = evaluated.value(resource["Properties"]["PolicyDocument"])
        for st in document["Statement"]:
            if st["Effect"] == "Deny" and st.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}:
                for action in st["Action"] if isinstance(st["Action"], list) else [st["Action"]]:
                    for arn in st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]:
                        out.append((action, arn))
    return sorted(out)


if __name__ == "__main__":
    unittest.main()
