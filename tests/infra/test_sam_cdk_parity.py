"""The SAM template and the CDK app deploy the same functions: same environment (names and values)
and the same IAM grants, for the default settings and for every setting changed at once.

The SAM side is SAM's own transform of infra/sam/template.yaml; the CDK side an offline synth of
infra/cdk (see templates.py). Without infra/cdk/node_modules these tests skip; `make cdk` installs
it and runs them again from its npm test (infra/cdk/test/parity.test.ts), where they cannot skip.
"""

import json
import unittest

import templates as T

TOPIC = "arn:aws:sns:us-east-1:123456789012:retirements"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"

# Each configuration: (SAM parameter values, the CDK props that mean the same).
CONFIGURATIONS = {
    "defaults": ({}, {}),
    "every setting changed": ({
        "DryRun": "false", "OptInOnly": "true", "MaxConcurrency": "16", "UpdateServiceRate": "2/20",
        "SdkMaxAttempts": "3", "BackoffRounds": "4", "DeadlineMarginSeconds": "30",
        "EcsClusterNames": "prod,batch-*", "PassableTaskRoles": "ecs-tasks/*,app/web-task-role",
        "EksClusterNames": "k8s-prod,k8s-batch",
        "MaintenanceWindows": "Sat,Sun 02:00-05:00 Asia/Tokyo", "DeadlineMargin": "12h",
        "FollowUpChecks": "off", "FollowUpFirst": "10m", "FollowUpMax": "2h", "RolloutTimeout": "45m",
        "NotificationTopicArn": TOPIC, "NotificationTopicKmsKeyArn": KEY,
        "MetricsNamespace": "Ops/Remediator", "LedgerRetention": "30d",
    }, {
        "dryRun": False, "optInOnly": True, "maxConcurrency": 16, "updateServiceRate": "2/20",
        "sdkMaxAttempts": 3, "backoffRounds": 4, "deadlineMarginSeconds": 30,
        "ecsClusterNames": ["prod", "batch-*"], "passableTaskRoles": ["ecs-tasks/*", "app/web-task-role"],
        "eksClusterNames": ["k8s-prod", "k8s-batch"],
        "maintenanceWindows": "Sat,Sun 02:00-05:00 Asia/Tokyo", "deadlineMargin": "12h",
        "followUpChecks": False, "followUpFirst": "10m", "followUpMax": "2h", "rolloutTimeout": "45m",
        "notificationTopicArn": TOPIC, "notificationTopicKmsKeyArn": KEY,
        "metricsNamespace": "Ops/Remediator", "ledgerRetention": "30d",
    }),
    "no task roles, one cluster": (
        {"PassableTaskRoles": "none", "EcsClusterNames": "prod", "NotificationTopicArn": TOPIC},
        {"passableTaskRoles": [], "ecsClusterNames": ["prod"], "notificationTopicArn": TOPIC},
    ),
}

# SAM parameters that set neither a function's environment nor an IAM grant (what they do set is
# not compared here): every other parameter must be changed in "every setting changed" above.
NOT_ENVIRONMENT_OR_IAM = {"RetryAttempts", "MaximumEventAgeSeconds", "AlarmTopicArn", "FunctionConcurrency",
                          "LogRetentionDays"}


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
        for expected in ("service/prod/*", "service/batch-*/*", "role/app/web-task-role", KEY, TOPIC):
            self.assertIn(expected, text)


if __name__ == "__main__":
    unittest.main()
