"""Every role's policies fit IAM's size quotas, in the largest configuration either stack takes.

IAM's quotas (IAM User Guide, "IAM and AWS STS quotas"), none of which CloudFormation checks before
it calls IAM (a deploy over them fails with "Maximum policy size of 10240 bytes exceeded"):
- a role's inline policies, all of them together: 10,240 characters (not adjustable). CloudFormation
  writes both a role's `Policies` (SAM's function `Policies`, SAM's DeadLetterQueue statement) and
  every AWS::IAM::Policy naming the role (CDK's DefaultPolicy) as inline policies of the role;
- one customer managed policy: 6,144 characters (not adjustable);
- managed policies attached to a role: 10 by default (adjustable, to 20 at most);
- a role's trust policy: 2,048 characters by default (adjustable, to 4,096).
IAM does not count whitespace. The size measured here is the policy document as compact JSON with
every character of its strings counted (whitespace in a string too): at least what IAM counts.

The configuration: every optional grant on, every list parameter at the SAM template's limit of ten
entries, and each entry 40 characters long. ECS cluster names may have 255 characters (EKS's 100),
but names seen in practice are 10 to 30 characters; 40 covers a long convention such as
environment, team, Region and a suffix ("payments-prod-ap-southeast-2-fargate-01" is 39). Role names
are at their maximum (64). What only CloudFormation knows is substituted by its longest value:
partition aws-us-gov, Region ap-southeast-2, a 12-digit account, URL suffix amazonaws.com.cn, and a
resource of the stack by the longest ARN or name its service allows for a generated name (a role or
function name 64 characters, a queue name 80, a table name 255).

The sizes must stay under the quotas with a margin (MARGIN of each quota left free) for longer
names than assumed and for statements yet to come. The SAM template's ECS function (and the member
stack's ECS role, which holds the same cluster-scoped statements) keep theirs within it by holding
the cluster-scoped statements in customer managed policies attached to the role; the CDK app splits
its default policy into managed "overflow" policies by itself, on its own estimate of the size,
which is why its synthesized output is measured here too.
"""

import json
import re
import unittest

import templates as T
from test_sam_cdk_parity import MAX_LIST_ENTRIES

INLINE_QUOTA = 10240
MANAGED_QUOTA = 6144
MANAGED_PER_ROLE_QUOTA = 10
TRUST_QUOTA = 2048
MARGIN = 0.10
# Managed policies the stack may attach to one role: two of the default ten are left to the account
# (a policy its administrators attach to every role, say).
MANAGED_PER_ROLE = MANAGED_PER_ROLE_QUOTA - 2

NAME_LENGTH = 40
PARTITION, REGION, ACCOUNT, URL_SUFFIX = "aws-us-gov", "ap-southeast-2", "123456789012", "amazonaws.com.cn"


def long_names(prefix, length=NAME_LENGTH, count=MAX_LIST_ENTRIES):
    """`count` distinct names of `length` characters."""
    return [(f"{prefix}{i}-" + "x" * length)[:length] for i in range(count)]


ECS_CLUSTERS = long_names("payments-prod-cluster-")
TASK_ROLES = long_names("ecs-tasks/payments-task-role-")  # path and name, as PassableTaskRoles takes them
EKS_CLUSTERS = long_names("payments-prod-eks-")
MEMBER_ROLE, EKS_MEMBER_ROLE = "m" * 64, "e" * 64
TOPIC = f"arn:{PARTITION}:sns:{REGION}:{ACCOUNT}:" + "t" * NAME_LENGTH
KEY = f"arn:{PARTITION}:kms:{REGION}:{ACCOUNT}:key/mrk-" + "0" * 32
ORGANIZATION = "o-" + "a" * 32

SAM_WORST = {
    "EcsClusterNames": ",".join(ECS_CLUSTERS), "PassableTaskRoles": ",".join(TASK_ROLES),
    "EksClusterNames": ",".join(EKS_CLUSTERS), "NotificationTopicArn": TOPIC, "NotificationTopicKmsKeyArn": KEY,
    "ReplaceDrainedInstances": "true", "ConfirmNotices": "health-api", "MemberRoleName": MEMBER_ROLE,
    "EksMemberRoleName": EKS_MEMBER_ROLE, "OrganizationId": ORGANIZATION, "OrganizationAccounts": "on",
}
CDK_WORST = {
    "ecsClusterNames": ECS_CLUSTERS, "passableTaskRoles": TASK_ROLES, "eksClusterNames": EKS_CLUSTERS,
    "notificationTopicArn": TOPIC, "notificationTopicKmsKeyArn": KEY, "replaceDrainedInstances": True,
    "confirmNotices": "health-api", "memberRoleName": MEMBER_ROLE, "eksMemberRoleName": EKS_MEMBER_ROLE,
    "organizationId": ORGANIZATION, "organizationAccounts": "on",
}
MEMBER_WORST = {
    "CentralFunctionRoleArn": f"arn:{PARTITION}:iam::{ACCOUNT}:role/" + "c" * 64,
    "CentralEksFunctionRoleArn": f"arn:{PARTITION}:iam::{ACCOUNT}:role/" + "d" * 64,
    "OrganizationId": ORGANIZATION, "MemberRoleName": MEMBER_ROLE, "EksMemberRoleName": EKS_MEMBER_ROLE,
    "EcsClusterNames": ",".join(ECS_CLUSTERS), "PassableTaskRoles": ",".join(TASK_ROLES),
    "EksClusterNames": ",".join(EKS_CLUSTERS), "ReplaceDrainedInstances": "true",
    "CentralEventBusArn": f"arn:{PARTITION}:events:{REGION}:{ACCOUNT}:event-bus/" + "b" * NAME_LENGTH,
}

PSEUDO = {"AWS::Partition": PARTITION, "AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::URLSuffix": URL_SUFFIX}
_PREFIX = f"arn:{PARTITION}:{{}}:{REGION}:{ACCOUNT}:"
# (resource type, attribute; "" for Ref): the longest value CloudFormation can give it.
LONGEST = {
    ("AWS::IAM::Role", "Arn"): f"arn:{PARTITION}:iam::{ACCOUNT}:role/" + "r" * 64,
    ("AWS::IAM::Role", ""): "r" * 64,
    ("AWS::IAM::ManagedPolicy", ""): f"arn:{PARTITION}:iam::{ACCOUNT}:policy/" + "p" * 128,
    ("AWS::Lambda::Function", "Arn"): _PREFIX.format("lambda") + "function:" + "f" * 64,
    ("AWS::Lambda::Function", ""): "f" * 64,
    ("AWS::SQS::Queue", "Arn"): _PREFIX.format("sqs") + "q" * 80,
    ("AWS::DynamoDB::Table", "Arn"): _PREFIX.format("dynamodb") + "table/" + "d" * 255,
    ("AWS::Scheduler::ScheduleGroup", ""): "g" * 64,
}
# ${AWS::Region}, ${LedgerTable.Arn}, ${ScheduleGroup}: what Evaluated leaves symbolic. Policy
# variables such as ${aws:PrincipalOrgID} are IAM's own and stay as written.
_SYMBOL = re.compile(r"\$\{(AWS::[A-Za-z]+|[A-Za-z0-9]+(?:\.[A-Za-z]+)?)\}")


def iam_size(document, evaluated):
    """The document's size as IAM counts it, at most: compact JSON, the symbols at their longest."""
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)

    def longest(m):
        symbol = m.group(1)
        if symbol.startswith("AWS::"):
            assert symbol in PSEUDO, f"no longest value for ${{{symbol}}}"
            return PSEUDO[symbol]
        name, _, attribute = symbol.partition(".")
        resource = evaluated.resources.get(name)
        assert resource is not None, f"${{{symbol}}}: no such resource"
        value = LONGEST.get((resource["Type"], attribute))
        assert value is not None, f"${{{symbol}}}: give LONGEST a value for {resource['Type']} {attribute or 'Ref'}"
        return value

    text = _SYMBOL.sub(longest, text)
    assert "${AWS::" not in text, text
    return len(text)


def role_policies(evaluated):
    """{role: {"inline": [document], "managed": {policy: document, or None for an AWS managed
    policy}, "trust": document}}, every policy evaluated, for each role of the template."""
    roles = {}
    for name, resource in evaluated.resources.items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        properties = evaluated.value(resource["Properties"])
        managed = {}
        for arn in properties.get("ManagedPolicyArns") or []:
            ref = re.fullmatch(r"\$\{([A-Za-z0-9]+)\}", arn)
            managed[arn] = (evaluated.value(evaluated.resources[ref.group(1)]["Properties"]["PolicyDocument"])
                            if ref else None)
        roles[name] = {"inline": [p["PolicyDocument"] for p in properties.get("Policies") or []],
                       "managed": managed, "trust": properties["AssumeRolePolicyDocument"]}
    for name, resource in evaluated.resources.items():
        if resource["Type"] not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"):
            continue
        properties = evaluated.value(resource["Properties"])
        attached = properties.get("Roles") or ([properties["RoleName"]] if "RoleName" in properties else [])
        for role in attached:
            role = re.fullmatch(r"\$\{([A-Za-z0-9]+)\}", role)
            assert role and role.group(1) in roles, f"{name} is attached to {attached}, not to a role of the stack"
            if resource["Type"] == "AWS::IAM::ManagedPolicy":
                roles[role.group(1)]["managed"][f"${{{name}}}"] = properties["PolicyDocument"]
            else:
                roles[role.group(1)]["inline"].append(properties["PolicyDocument"])
    return roles


def sizes(evaluated):
    """{role: (inline total, {managed policy: size or None}, managed count, trust size)}."""
    out = {}
    for role, policies in role_policies(evaluated).items():
        out[role] = (sum(iam_size(d, evaluated) for d in policies["inline"]),
                     {p: None if d is None else iam_size(d, evaluated) for p, d in policies["managed"].items()},
                     len(policies["managed"]), iam_size(policies["trust"], evaluated))
    return out


class PolicySizes(unittest.TestCase):
    def check(self, label, evaluated, expected_roles):
        found = sizes(evaluated)
        self.assertLessEqual(set(expected_roles), set(found), f"{label}: roles")
        inline_limit = int(INLINE_QUOTA * (1 - MARGIN))
        managed_limit = int(MANAGED_QUOTA * (1 - MARGIN))
        for role, (inline, managed, count, trust) in sorted(found.items()):
            with self.subTest(template=label, role=role):
                self.assertLessEqual(inline, inline_limit,
                                     f"{role}: inline policies of {inline} characters, {INLINE_QUOTA} at most "
                                     f"(and {MARGIN:.0%} of it left free): move statements to a managed policy")
                for policy, size in sorted(managed.items()):
                    if size is not None:
                        self.assertLessEqual(size, managed_limit,
                                             f"{role}: managed policy {policy} of {size} characters, "
                                             f"{MANAGED_QUOTA} at most (and {MARGIN:.0%} of it left free)")
                self.assertLessEqual(count, MANAGED_PER_ROLE,
                                     f"{role}: {count} managed policies, {MANAGED_PER_ROLE_QUOTA} at most by default")
                self.assertLessEqual(trust, int(TRUST_QUOTA * (1 - MARGIN)), f"{role}: trust policy")
        return found

    def test_the_sam_template(self):
        evaluated = T.sam(SAM_WORST)
        found = self.check("SAM", evaluated, ["EcsRetirementFunctionRole", "EksFargatePodFunctionRole",
                                              "EcsSchedulerRole", "EksSchedulerRole"])
        self.assertGreater(found["EcsRetirementFunctionRole"][0], 0)

    def test_the_member_stack(self):
        evaluated = T.member(MEMBER_WORST)
        self.check("member", evaluated, ["MemberRole", "EksMemberRole", "ForwardingRole"])

    def test_the_cdk_app(self):
        evaluated = T.cdk({"largest": CDK_WORST})["largest"]
        self.check("CDK", evaluated, ["EcsRetirementFunctionRole", "EksFargatePodFunctionRole",
                                      "EcsSchedulerRole", "EksSchedulerRole"])

    def test_the_configuration_is_the_largest(self):
        """Every list at the SAM template's limit, every optional grant on: a measurement of a smaller
        configuration would prove nothing."""
        for names in (ECS_CLUSTERS, TASK_ROLES, EKS_CLUSTERS):
            self.assertEqual(len(names), MAX_LIST_ENTRIES)
            self.assertEqual({len(n) for n in names}, {NAME_LENGTH})
            self.assertEqual(len(set(names)), len(names))
        evaluated = T.sam(SAM_WORST)
        for condition in evaluated.template["Conditions"]:
            with self.subTest(condition=condition):
                self.assertTrue(evaluated.condition(condition), f"{condition} is off: switch it on in SAM_WORST")
        member = T.member(MEMBER_WORST)
        for condition in member.template["Conditions"]:
            with self.subTest(condition=condition):
                self.assertTrue(member.condition(condition), f"{condition} is off: switch it on in MEMBER_WORST")
        roles = T.grants(evaluated.roles()["ecs-retirement"])
        self.assertEqual(len({g[1] for g in roles if f"/{ECS_CLUSTERS[-1]}" in g[1]}), 5,
                         "the tenth cluster's service, service deployment, task, cluster and container instance ARNs")

    def test_the_measure(self):
        evaluated = T.sam({})
        document = {"Statement": [{"Resource": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${DeadLetterQueue.Arn}",
                                   "Condition": {"StringEquals": {"aws:ResourceOrgID": "${aws:PrincipalOrgID}"}}}]}
        expected = json.dumps(document, separators=(",", ":"))
        for symbol, value in (("${AWS::Partition}", PARTITION), ("${AWS::Region}", REGION),
                              ("${AWS::AccountId}", ACCOUNT), ("${DeadLetterQueue.Arn}", LONGEST[("AWS::SQS::Queue", "Arn")])):
            expected = expected.replace(symbol, value)
        self.assertIn("${aws:PrincipalOrgID}", expected, "a policy variable is IAM's, counted as written")
        self.assertEqual(iam_size(document, evaluated), len(expected))


if __name__ == "__main__":
    unittest.main()
