"""The IAM grants of both templates, checked where the local AWS cannot check them (moto does not
enforce IAM):

- against the Service Authorization Reference, as tests/infra/iam_reference.json records it: each
  action on its documented resource types only (Resource "*" only where it has none), each
  condition key one the action or its resource type documents;
- against this repository's own scoping: the ECS function acts in the clusters of EcsClusterNames
  only, passes the roles of PassableTaskRoles only, and may use the notification topic's KMS key
  (NotificationTopicKmsKeyArn) through SNS only.

The member stack of central mode (infra/sam/member.yaml) is checked against the same table in
test_member_stack.py; its actions count among those the table must list.

Each template is checked as deployed: SAM's transform of the SAM template and the CDK app's synth
(see templates.py), under each configuration of test_sam_cdk_parity.CONFIGURATIONS.
"""

import json
import os
import re
import unittest

import templates as T
from test_sam_cdk_parity import CONFIGURATIONS, KEY, MAX_LIST_ENTRIES, TEN_ROLES, TOPIC

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "iam_reference.json")) as f:
    REFERENCE = json.load(f)

# How a Ref or GetAtt of a stack resource reads as an ARN, to match it against the reference.
ARN_OF = {
    ("AWS::DynamoDB::Table", "Arn"): "arn:aws:dynamodb:us-east-1:123456789012:table/{}",
    ("AWS::SQS::Queue", "Arn"): "arn:aws:sqs:us-east-1:123456789012:{}",
    ("AWS::IAM::Role", "Arn"): "arn:aws:iam::123456789012:role/{}",
    ("AWS::Lambda::Function", "Arn"): "arn:aws:lambda:us-east-1:123456789012:function:{}",
    ("AWS::Scheduler::ScheduleGroup", ""): "{}",  # Ref: the group's name
}


def concrete(resource, evaluated):
    """A granted resource as an ARN of account 123456789012 in us-east-1."""
    text = (resource.replace("${AWS::Partition}", "aws").replace("${AWS::Region}", "us-east-1")
            .replace("${AWS::AccountId}", "123456789012"))

    def arn(m):
        name, _, attribute = m.group(1).partition(".")
        return ARN_OF[(evaluated.resources[name]["Type"], attribute)].format(name)

    return re.sub(r"\$\{([A-Za-z0-9]+(?:\.[A-Za-z]+)?)\}", arn, text)


def arn_pattern(documented):
    """The reference's ARN template as a regex: ${Partition} aws, ${Region} a Region, ${Account} 12
    digits, any other ${Name} one or more characters without ':' (a granted '*' fits there)."""
    out = ""
    for part in re.split(r"(\$\{[^}]+\})", documented):
        out += {"${Partition}": "aws", "${Region}": r"[a-z]{2}(?:-[a-z]+)+-\d", "${Account}": r"\d{12}"}.get(
            part, r"[^:]+" if part.startswith("${") else re.escape(part))
    return re.compile(out + r"\Z")


def key_pattern(documented):
    return re.compile(re.sub(r"\\\$\\\{[^}]+\\\}", ".+", re.escape(documented)) + r"\Z", re.IGNORECASE)


def listed(x):
    return x if isinstance(x, list) else [x]


def condition_keys(statement):
    return {key for keys in (statement.get("Condition") or {}).values() for key in keys}


def member_with_forwarding():
    """The member stack with every optional grant switched on (the EKS function trusted, forwarding
    to a central bus)."""
    return T.member({"CentralFunctionRoleArn": "arn:aws:iam::111111111111:role/central-function-role",
                     "CentralEksFunctionRoleArn": "arn:aws:iam::111111111111:role/central-eks-function-role",
                     "EksClusterNames": "k8s-prod",
                     "OrganizationId": "o-a1b2c3d4e5",
                     "CentralEventBusArn": "arn:aws:events:us-east-1:111111111111:event-bus/default"})


def variants():
    """(label, evaluated template) for SAM and, where infra/cdk is installed, CDK, per configuration."""
    out = [(f"SAM {name}", T.sam(params)) for name, (params, _) in CONFIGURATIONS.items()]
    if T.cdk_available() or os.environ.get("INFRA_TESTS_NO_SKIP"):
        evaluated = T.cdk({name: props for name, (_, props) in CONFIGURATIONS.items()})
        out += [(f"CDK {name}", e) for name, e in evaluated.items()]
    return out


class ReferenceTable(unittest.TestCase):
    def test_every_row_names_its_source(self):
        rows = list(REFERENCE["actions"].items()) + [
            (f"{service}:{name}", row) for service, types in REFERENCE["resource_types"].items()
            for name, row in types.items()]
        for name, row in rows:
            self.assertRegex(row.get("source", ""), r"^https://docs\.aws\.amazon\.com/", name)
            for extra in ("granted_as", "also"):
                if extra in row:
                    self.assertRegex(row[extra].get("source", ""), r"^https://docs\.aws\.amazon\.com/", name)
                    self.assertTrue(row[extra].get("why"), f"{name}: {extra} says why")

    def test_every_action_names_resource_types_the_table_defines(self):
        for action, row in REFERENCE["actions"].items():
            service = action.split(":")[0]
            for rtype in row["resource_types"]:
                self.assertIn(rtype, REFERENCE["resource_types"].get(service, {}), action)

    def test_the_table_lists_exactly_the_actions_the_templates_grant(self):
        granted = {action for _, e in variants() + [("member", member_with_forwarding())]
                   for statements in e.roles().values() for st in statements for action in listed(st["Action"])}
        self.assertEqual(sorted(granted - set(REFERENCE["actions"])), [],
                         "granted but not in iam_reference.json: add a row from the reference, with its source")
        self.assertEqual(sorted(set(REFERENCE["actions"]) - granted), [],
                         "in iam_reference.json but granted by neither template: remove the row")


class DocumentedGrants(unittest.TestCase):
    """Every (action, resource, condition key) of every role, against the reference."""

    @classmethod
    def setUpClass(cls):
        cls.variants = variants()

    def grants(self):
        for label, evaluated in self.variants:
            for role, statements in evaluated.roles().items():
                for st in statements:
                    for action in listed(st["Action"]):
                        yield f"{label} / {role} / {st.get('Sid') or action}", evaluated, st, action

    def test_each_resource_is_of_a_type_the_action_documents(self):
        for where, evaluated, st, action in self.grants():
            row = REFERENCE["actions"].get(action)
            if row is None:
                with self.subTest(where=where, action=action):
                    self.fail(f"{action} is not in iam_reference.json: add its row, from the reference, with its source")
                continue
            types = [REFERENCE["resource_types"][action.split(":")[0]][t] for t in row["resource_types"]]
            granted_as = row.get("granted_as")
            for resource in listed(st["Resource"]):
                with self.subTest(where=where, action=action, resource=resource):
                    if granted_as:
                        self.assertEqual(resource, granted_as["resource"], f"{action}: {granted_as['why']}")
                        self.assertIn(granted_as["condition_key"], condition_keys(st),
                                      f"{action} on {resource} needs its {granted_as['condition_key']} condition")
                    elif resource == "*":
                        self.assertEqual(types, [], f"{action} documents resource types "
                                         f"{row['resource_types']}: grant it on those, not on *")
                    else:
                        self.assertNotEqual(types, [], f"{action} has no resource types: only * applies")
                        arn = concrete(resource, evaluated)
                        patterns = [t["arn"] for t in types] + [t["also"]["arn"] for t in types if "also" in t]
                        self.assertTrue(any(arn_pattern(p).match(arn) for p in patterns),
                                        f"{arn} is none of {patterns}")

    def test_each_condition_key_is_documented_for_the_action_or_its_resource(self):
        for where, _, st, action in self.grants():
            row = REFERENCE["actions"].get(action)
            if row is None:
                continue  # test_each_resource_is_of_a_type_the_action_documents says so
            service = action.split(":")[0]
            documented = list(row["condition_keys"]) + REFERENCE["global_condition_keys"]["keys"]
            for rtype in row["resource_types"]:
                documented += REFERENCE["resource_types"][service][rtype]["condition_keys"]
            for key in condition_keys(st):
                with self.subTest(where=where, action=action, key=key):
                    self.assertTrue(any(key_pattern(d).match(key) for d in documented),
                                    f"{key} is not a condition key of {action}: {sorted(documented)}")

    def test_list_tasks_is_granted_on_star_within_the_clusters(self):
        """The reference's ListTasks resource is a container instance, which Fargate tasks lack:
        "*" with the ecs:cluster condition (the ECS developer guide's example)."""
        for label, evaluated in self.variants:
            statements = [st for st in evaluated.roles()["ecs-retirement"] if "ecs:ListTasks" in listed(st["Action"])]
            with self.subTest(variant=label):
                self.assertEqual(len(statements), 1)
                self.assertEqual(listed(statements[0]["Resource"]), ["*"])
                self.assertIn("ecs:cluster", statements[0]["Condition"].get("ArnLike", {}))

    def test_the_cdk_app_is_checked_too(self):
        if not any(label.startswith("CDK") for label, _ in self.variants):
            T._unavailable("infra/cdk/node_modules missing: make cdk checks the CDK app (INFRA_TESTS_NO_SKIP=1)",
                           rerun_by_cdk=True)


def clusters_of(configuration):
    params = CONFIGURATIONS[configuration][0]
    return params.get("EcsClusterNames", "*").split(",")


class EcsScope(unittest.TestCase):
    """The ECS function, in the clusters of EcsClusterNames only, passing the roles of
    PassableTaskRoles only."""

    @classmethod
    def setUpClass(cls):
        cls.variants = variants()

    def configuration(self, label):
        return label.split(" ", 1)[1]

    def test_every_ecs_action_that_can_name_a_cluster_is_limited_to_the_configured_ones(self):
        for label, evaluated in self.variants:
            clusters = clusters_of(self.configuration(label))
            names = "|".join(re.escape(c) for c in clusters)
            cluster_arns = sorted(f"arn:${{AWS::Partition}}:ecs:${{AWS::Region}}:${{AWS::AccountId}}:cluster/{c}"
                                  for c in clusters)
            for st in evaluated.roles()["ecs-retirement"]:
                for action in listed(st["Action"]):
                    if not action.startswith("ecs:"):
                        continue
                    row = REFERENCE["actions"][action]
                    types = [REFERENCE["resource_types"]["ecs"][t]["arn"] for t in row["resource_types"]]
                    if "ecs:cluster" not in row["condition_keys"] and not any("${ClusterName}" in a for a in types):
                        continue  # ListClusters, DescribeTaskDefinition: no cluster to limit them by
                    by_condition = sorted(listed((st.get("Condition") or {}).get("ArnLike", {}).get("ecs:cluster", [])))
                    for resource in listed(st["Resource"]):
                        with self.subTest(variant=label, action=action, resource=resource):
                            in_arn = re.search(rf":(service|service-deployment|task|cluster|container-instance)/({names})(/|$)",
                                               resource)
                            self.assertTrue(in_arn or by_condition == cluster_arns,
                                            f"{action} on {resource} is not limited to the clusters {clusters} "
                                            f"(condition: {by_condition})")

    def test_task_roles_are_passed_to_ecs_tasks_only_and_only_those_configured(self):
        expected = {
            "defaults": ["ecs-tasks/*"],
            "every setting changed": ["app/web-task-role", "ecs-tasks/*"],
            "no task roles, one cluster": [],
            "central mode, derived EKS member role": ["ecs-tasks/*"],
            "ten of each list": sorted(TEN_ROLES),
            "no scheduled preflight": ["ecs-tasks/*"],
        }
        self.assertEqual(set(expected), set(CONFIGURATIONS))
        for label, evaluated in self.variants:
            for role, statements in evaluated.roles().items():
                for st in statements:
                    if "iam:PassRole" not in listed(st["Action"]):
                        continue
                    with self.subTest(variant=label, role=role):
                        passed_to = st.get("Condition", {}).get("StringEquals", {}).get("iam:PassedToService")
                        self.assertIn(passed_to, ("ecs-tasks.amazonaws.com", "scheduler.amazonaws.com"))
                        for resource in listed(st["Resource"]):
                            self.assertNotRegex(resource, r":role/\*$", "every role of the account")
            passed = sorted(r.split(":role/", 1)[1]
                            for st in evaluated.roles()["ecs-retirement"] if "iam:PassRole" in listed(st["Action"])
                            and st["Condition"]["StringEquals"]["iam:PassedToService"] == "ecs-tasks.amazonaws.com"
                            for r in listed(st["Resource"]))
            with self.subTest(variant=label):
                self.assertEqual(passed, expected[self.configuration(label)])

    def test_service_deployments_are_read_in_the_configured_clusters_only(self):
        """Follow-up checks read a service deployment's status, lifecycle stage and hooks: both of
        DescribeServiceDeployments' required resource types (the service, the service deployment),
        by cluster as DescribeServices; nothing that acts on a deployment (ContinueServiceDeployment,
        StopServiceDeployment)."""
        prefix = "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:"
        for label, evaluated in self.variants:
            clusters = clusters_of(self.configuration(label))
            grants = T.grants(evaluated.roles()["ecs-retirement"])
            with self.subTest(variant=label):
                self.assertEqual(sorted(g[1:] for g in grants if g[0] == "ecs:DescribeServiceDeployments"),
                                 sorted([(f"{prefix}service/{c}/*", "{}") for c in clusters]
                                        + [(f"{prefix}service-deployment/{c}/*/*", "{}") for c in clusters]))
                self.assertEqual(sorted({g[1] for g in grants if g[0] == "ecs:DescribeServices"}),
                                 sorted(f"{prefix}service/{c}/*" for c in clusters), "the same services")
                self.assertEqual({g[0] for g in grants if "ServiceDeployment" in g[0]}, {"ecs:DescribeServiceDeployments"})
                self.assertEqual({g[1] for g in grants if ":service-deployment/" in g[1] and g[0] != "ecs:DescribeServiceDeployments"},
                                 set(), "service deployments to no other action")
                eks = {g[0] for g in T.grants(evaluated.roles()["eks-fargate-pod"])}
                self.assertNotIn("ecs:DescribeServiceDeployments", eks)

    def test_the_sam_template_takes_ten_entries_per_list(self):
        """One entry past the limit is not granted (its resources end AccessDenied), not an error:
        the parameter descriptions say so. The CDK app takes any number."""
        over = {"EcsClusterNames": ",".join(f"c{i}" for i in range(MAX_LIST_ENTRIES + 1)),
                "PassableTaskRoles": ",".join(f"r{i}" for i in range(MAX_LIST_ENTRIES + 1)),
                "EksClusterNames": ",".join(f"k{i}" for i in range(MAX_LIST_ENTRIES + 1))}
        grants = {g for statements in T.sam(over).roles().values() for g in T.grants(statements)}
        text = json.dumps(sorted(grants))
        for i in range(MAX_LIST_ENTRIES):
            for fragment in (f"service/c{i}/*", f"service-deployment/c{i}/*/*", f"task/c{i}/*", f"cluster/c{i}\"",
                             f"role/r{i}\"", f"cluster/k{i}\""):
                self.assertIn(fragment, text)
        last = MAX_LIST_ENTRIES
        for fragment in (f"/c{last}", f"role/r{last}", f"cluster/k{last}"):
            self.assertNotIn(fragment, text)
        parameters = T.sam_template()["Parameters"]
        for name in over:
            self.assertIn(f"up to {MAX_LIST_ENTRIES} entries", parameters[name]["Description"].lower(), name)

    def test_the_defaults(self):
        parameters = T.sam_template()["Parameters"]
        self.assertEqual(parameters["EcsClusterNames"]["Default"], "*",
                         "every cluster: a retirement may name any; EcsClusterNames narrows it")
        self.assertEqual(parameters["PassableTaskRoles"]["Default"], "ecs-tasks/*",
                         "roles under the /ecs-tasks/ path only, not every role of the account")


ASG_ARN = "arn:${AWS::Partition}:autoscaling:${AWS::Region}:${AWS::AccountId}:autoScalingGroup:*:autoScalingGroupName/*"
NOT_SKIPPED = json.dumps({"StringNotEquals": {"autoscaling:ResourceTag/retirement-remediator/skip": ["true"]}})


class ContainerInstancesOnEc2(unittest.TestCase):
    """ECS on EC2 (EC2 scheduled events): the container instances of EcsClusterNames only, reads that
    have no resource-level permissions on "*", and Auto Scaling terminations with
    ReplaceDrainedInstances=true only."""

    @classmethod
    def setUpClass(cls):
        cls.variants = variants()

    def replaces(self, label):
        return CONFIGURATIONS[label.split(" ", 1)[1]][0].get("ReplaceDrainedInstances") == "true"

    def test_terminate_in_auto_scaling_group_only_with_replace_drained_instances(self):
        seen = set()
        for label, evaluated in self.variants:
            terminate = {(role, g) for role, statements in evaluated.roles().items()
                         for g in T.grants(statements) if g[0].startswith("autoscaling:Terminate")}
            with self.subTest(variant=label):
                if self.replaces(label):
                    self.assertEqual(terminate, {("ecs-retirement", ("autoscaling:TerminateInstanceInAutoScalingGroup",
                                                                     ASG_ARN, NOT_SKIPPED))},
                                     "the ECS function only, on the account's groups, never on a skipped one")
                else:
                    self.assertEqual(terminate, set(), "absent unless ReplaceDrainedInstances is true")
            seen.add(self.replaces(label))
        self.assertEqual(seen, {True, False}, "both settings are checked")

    def test_terminate_is_absent_by_default_and_present_with_the_parameter(self):
        parameter = T.sam_template()["Parameters"]["ReplaceDrainedInstances"]
        self.assertEqual((parameter["Default"], sorted(parameter["AllowedValues"])), ("false", ["false", "true"]))
        for value, expected in (("false", 0), ("true", 1)):
            with self.subTest(ReplaceDrainedInstances=value):
                evaluated = T.sam({"ReplaceDrainedInstances": value})
                grants = T.grants(evaluated.roles()["ecs-retirement"])
                self.assertEqual(len([g for g in grants if g[0] == "autoscaling:TerminateInstanceInAutoScalingGroup"]), expected)
                self.assertEqual(evaluated.environment("ecs-retirement")["REPLACE_DRAINED_INSTANCES"], value)
                self.assertNotIn("REPLACE_DRAINED_INSTANCES", evaluated.environment("eks-fargate-pod"))

    def test_container_instances_of_the_configured_clusters_only(self):
        actions = ("ecs:DescribeContainerInstances", "ecs:UpdateContainerInstancesState",
                   "ecs:PutAttributes", "ecs:DeleteAttributes")
        for label, evaluated in self.variants:
            clusters = clusters_of(label.split(" ", 1)[1])
            grants = T.grants(evaluated.roles()["ecs-retirement"])
            prefix = "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:"
            with self.subTest(variant=label):
                for action in actions:
                    self.assertEqual(sorted(g[1:] for g in grants if g[0] == action),
                                     sorted((f"{prefix}container-instance/{c}/*", "{}") for c in clusters), action)
                self.assertEqual(sorted(g[1:] for g in grants if g[0] == "ecs:ListContainerInstances"),
                                 sorted((f"{prefix}cluster/{c}", "{}") for c in clusters))
                self.assertEqual({g[1:] for g in grants if g[0] == "ecs:DescribeCapacityProviders"},
                                 {(f"{prefix}capacity-provider/*", "{}")})
                for action in ("ec2:DescribeInstances", "ec2:DescribeInstanceEventWindows", "ec2:DescribeInstanceStatus",
                               "autoscaling:DescribeAutoScalingInstances", "ecs:ListClusters"):
                    self.assertEqual({g[1:] for g in grants if g[0] == action}, {("*", "{}")}, action)
                # The EKS function gets none of it.
                eks = {g[0] for g in T.grants(evaluated.roles()["eks-fargate-pod"])}
                self.assertFalse(eks & set(actions) | {a for a in eks if a.startswith(("ec2:", "autoscaling:"))})


class NotificationTopicKey(unittest.TestCase):
    """An encrypted notification topic: its key, to the functions, through SNS only."""

    @classmethod
    def setUpClass(cls):
        cls.variants = variants()

    def kms_grants(self, evaluated):
        return {role: {g for g in T.grants(statements) if g[0].startswith("kms:")}
                for role, statements in evaluated.roles().items()}

    def test_without_a_key_no_role_may_use_kms(self):
        for label, evaluated in self.variants:
            if KEY in json.dumps(CONFIGURATIONS[label.split(" ", 1)[1]]):
                continue
            with self.subTest(variant=label):
                self.assertEqual({r: g for r, g in self.kms_grants(evaluated).items() if g}, {})

    def test_with_a_key_both_functions_may_generate_data_keys_and_decrypt_with_it_through_sns(self):
        via_sns = json.dumps({"StringEquals": {"kms:ViaService": ["sns.${AWS::Region}.${AWS::URLSuffix}"]}})
        checked = 0
        for label, evaluated in self.variants:
            if KEY not in json.dumps(CONFIGURATIONS[label.split(" ", 1)[1]]):
                continue
            checked += 1
            grants = self.kms_grants(evaluated)
            with self.subTest(variant=label):
                for function in T.FUNCTIONS.values():
                    self.assertEqual(grants.pop(function), {("kms:GenerateDataKey", KEY, via_sns),
                                                            ("kms:Decrypt", KEY, via_sns)}, function)
                self.assertEqual({r: g for r, g in grants.items() if g}, {}, "no other role")
        self.assertGreater(checked, 0)

    def test_the_key_parameter_takes_a_key_arn_and_defaults_to_none(self):
        parameter = T.sam_template()["Parameters"]["NotificationTopicKmsKeyArn"]
        self.assertEqual(parameter["Default"], "")
        pattern = re.compile(parameter["AllowedPattern"])
        self.assertTrue(pattern.fullmatch(KEY))
        self.assertTrue(pattern.fullmatch(""))
        # IAM authorizes the key's ARN: an alias ARN in the policy would not let SNS use the key.
        self.assertIsNone(pattern.fullmatch("arn:aws:kms:us-east-1:123456789012:alias/retirements"))

    def test_without_a_topic_no_function_may_publish(self):
        for label, evaluated in self.variants:
            if TOPIC in json.dumps(CONFIGURATIONS[label.split(" ", 1)[1]]):
                continue
            with self.subTest(variant=label):
                publish = {g for statements in evaluated.roles().values() for g in T.grants(statements)
                           if g[0] == "sns:Publish"}
                self.assertEqual(publish, set())


SCHEDULE_GROUP_ARN = "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule-group/${ScheduleGroup}"


class SchedulerRoles(unittest.TestCase):
    """One scheduler role per function: trusted by EventBridge Scheduler for this account's schedules
    of the stack's group only (aws:SourceAccount and aws:SourceArn, the group's ARN as Scheduler's
    confused-deputy guide requires), invoking its own function only; each function passes its own."""

    @classmethod
    def setUpClass(cls):
        cls.variants = variants()

    def test_each_trusts_scheduler_with_source_account_and_the_stack_s_schedule_group(self):
        for label, evaluated in self.variants:
            for role in ("EcsSchedulerRole", "EksSchedulerRole"):
                with self.subTest(variant=label, role=role):
                    trust = evaluated.value(evaluated.resources[role]["Properties"]["AssumeRolePolicyDocument"])
                    self.assertEqual(len(trust["Statement"]), 1)
                    st = trust["Statement"][0]
                    self.assertEqual((st["Effect"], st["Principal"], listed(st["Action"])),
                                     ("Allow", {"Service": "scheduler.amazonaws.com"}, ["sts:AssumeRole"]))
                    self.assertEqual(st["Condition"], {
                        "StringEquals": {"aws:SourceAccount": "${AWS::AccountId}"},
                        "ArnEquals": {"aws:SourceArn": SCHEDULE_GROUP_ARN},
                    })

    def test_each_invokes_its_own_function_only(self):
        own = {"EcsSchedulerRole": "EcsRetirementFunction", "EksSchedulerRole": "EksFargatePodFunction"}
        for label, evaluated in self.variants:
            roles = evaluated.roles()
            scheduler_roles = {r for r, res in evaluated.resources.items() if res["Type"] == "AWS::IAM::Role"
                               and "scheduler.amazonaws.com" in json.dumps(res["Properties"]["AssumeRolePolicyDocument"])}
            with self.subTest(variant=label):
                self.assertEqual(scheduler_roles, set(own), "one scheduler role per function")
            for role, function in own.items():
                with self.subTest(variant=label, role=role):
                    self.assertEqual(T.grants(roles[role]), {
                        ("lambda:InvokeFunction", f"${{{function}.Arn}}", "{}"),
                        ("lambda:InvokeFunction", f"${{{function}.Arn}}:*", "{}"),
                        ("sqs:SendMessage", "${DeadLetterQueue.Arn}", "{}"),
                    })

    def test_each_function_names_and_passes_its_own_scheduler_role_only(self):
        own = {"ecs-retirement": "EcsSchedulerRole", "eks-fargate-pod": "EksSchedulerRole"}
        to_scheduler = json.dumps({"StringEquals": {"iam:PassedToService": ["scheduler.amazonaws.com"]}})
        for label, evaluated in self.variants:
            roles = evaluated.roles()
            for function, role in own.items():
                with self.subTest(variant=label, function=function):
                    self.assertEqual(evaluated.environment(function)["SCHEDULE_ROLE_ARN"], f"${{{role}.Arn}}")
                    passed = {g[1] for g in T.grants(roles[function]) if g[0] == "iam:PassRole" and g[2] == to_scheduler}
                    self.assertEqual(passed, {f"${{{role}.Arn}}"})


if __name__ == "__main__":
    unittest.main()
