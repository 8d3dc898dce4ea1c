"""The member stack of central mode (infra/sam/member.yaml) against the central stack:

- one member role per function: the ECS member role trusts the central ECS function's role only,
  the EKS member role (with CentralEksFunctionRoleArn and EksClusterNames) the central EKS
  function's role only, both only from the organization, under the names the functions assume;
- each grants exactly what its function's own policy grants for remediating (ECS, CodeDeploy, EC2,
  Auto Scaling, iam:PassRole to ECS tasks; eks:DescribeCluster and nothing else for the EKS one),
  scoped by the same EcsClusterNames, PassableTaskRoles and EksClusterNames, in every Region (the role is global;
  a notice may come from any Region of the member account) — for every configuration of
  test_sam_cdk_parity.CONFIGURATIONS, against SAM's transform and the CDK synth;
- each grant is one the Service Authorization Reference documents (iam_reference.json);
- the forwarding rules use the central rules' patterns, target the central bus only, through a
  role that may put events there only.
Run: .venv/bin/python -m unittest discover -s tests/infra (make test does).
"""

import json
import os
import re
import unittest

import templates as T
from test_event_patterns import rule_functions, rule_patterns
from test_iam_policies import REFERENCE, arn_pattern, concrete, condition_keys, key_pattern, listed
from test_sam_cdk_parity import CONFIGURATIONS, EKS_MEMBER_ROLE, MEMBER_ROLE, ORGANIZATION, member_role_names

CENTRAL_ROLE = "arn:aws:iam::111111111111:role/central-EcsRetirementFunctionRole-1A2B3C4D5E6F"
CENTRAL_EKS_ROLE = "arn:aws:iam::111111111111:role/central-EksFargatePodFunctionRole-6F5E4D3C2B1A"
BUS = "arn:aws:events:us-east-1:111111111111:event-bus/default"
REQUIRED = {"CentralFunctionRoleArn": CENTRAL_ROLE, "OrganizationId": ORGANIZATION}
# Parameters the member stack shares with the central one: same meaning, same spelling.
SHARED = ("EcsClusterNames", "PassableTaskRoles", "EksClusterNames", "ReplaceDrainedInstances")
# The central EKS function's grant when EksClusterNames is "none": a cluster that does not exist.
NO_CLUSTER = ":cluster/none-configured"


def member(**parameters):
    return T.member({**REQUIRED, **parameters})


def central_only(grant):
    """A grant of either function that concerns its own stack's resources (one-time schedules and
    the scheduler role, the ledger, the dead-letter queue, notifications and their key) or the member
    roles themselves: the function keeps using its own credentials for those."""
    action, _, condition = grant
    if action == "iam:PassRole":
        return "scheduler.amazonaws.com" in condition
    # The preflight simulates the function's own role (members are judged by PassableTaskRoles).
    if action == "iam:SimulatePrincipalPolicy":
        return True
    # health: ConfirmNotices asks AWS Health from the central account (organizational view);
    # organizations: OrganizationAccounts lists the members from the central account.
    return action.split(":")[0] in ("scheduler", "dynamodb", "sqs", "sns", "kms", "sts", "health",
                                    "organizations")


def remediation(central, function):
    """The function's remediation grants as the member role must have them (any Region; the EKS
    function's placeholder cluster of EksClusterNames "none" is no grant)."""
    return {every_region(g) for g in T.grants(central.roles()[function])
            if not central_only(g) and not g[1].endswith(NO_CLUSTER)}


def every_region(grant):
    """The central grant as the member role has it: its Region, any Region."""
    return tuple(part.replace(":${AWS::Region}:", ":*:") for part in grant)


def central_variants():
    out = [(f"SAM {name}", params, T.sam(params)) for name, (params, _) in CONFIGURATIONS.items()]
    if T.cdk_available() or os.environ.get("INFRA_TESTS_NO_SKIP"):
        evaluated = T.cdk({name: props for name, (_, props) in CONFIGURATIONS.items()})
        out += [(f"CDK {name}", CONFIGURATIONS[name][0], e) for name, e in evaluated.items()]
    return out


EKS_TRUSTED = {"CentralEksFunctionRoleArn": CENTRAL_EKS_ROLE, "EksClusterNames": "k8s-prod"}


class MemberRole(unittest.TestCase):
    def named_roles(self, evaluated):
        return {n: evaluated.value(r["Properties"]) for n, r in evaluated.resources.items()
                if r["Type"] == "AWS::IAM::Role" and r["Properties"].get("RoleName") is not None}

    def role(self, evaluated, name="MemberRole"):
        roles = self.named_roles(evaluated)
        self.assertIn(name, roles)
        return roles[name]

    def trust(self, evaluated, name="MemberRole"):
        trust = self.role(evaluated, name)["AssumeRolePolicyDocument"]
        self.assertEqual(len(trust["Statement"]), 1, "one statement")
        st = trust["Statement"][0]
        self.assertEqual(set(st), {"Sid", "Effect", "Principal", "Action", "Condition"})
        self.assertEqual(st["Effect"], "Allow")
        self.assertEqual(list(st["Principal"]), ["AWS"], "roles, not accounts or services")
        self.assertEqual(listed(st["Action"]), ["sts:AssumeRole"])
        self.assertEqual(st["Condition"], {"StringEquals": {"aws:PrincipalOrgID": ORGANIZATION}})
        return sorted(listed(st["Principal"]["AWS"]))

    def test_the_ecs_member_role_trusts_only_the_central_ecs_function_role_from_the_organization(self):
        self.assertEqual(list(self.named_roles(member())), ["MemberRole"], "no EKS member role by default")
        self.assertEqual(self.trust(member()), [CENTRAL_ROLE], "the central function's role, not its account")
        self.assertEqual(self.trust(member(CentralEksFunctionRoleArn="")), [CENTRAL_ROLE])
        self.assertEqual(self.trust(member(**EKS_TRUSTED)), [CENTRAL_ROLE], "never the EKS function's")

    def test_the_eks_member_role_trusts_only_the_central_eks_function_role_from_the_organization(self):
        self.assertEqual(sorted(self.named_roles(member(**EKS_TRUSTED))), ["EksMemberRole", "MemberRole"])
        self.assertEqual(self.trust(member(**EKS_TRUSTED), "EksMemberRole"), [CENTRAL_EKS_ROLE])
        # Not trusted, or no cluster named: no EKS member role at all.
        for parameters in ({"EksClusterNames": "k8s-prod"}, {"CentralEksFunctionRoleArn": CENTRAL_EKS_ROLE}):
            with self.subTest(**parameters):
                self.assertEqual(list(self.named_roles(member(**parameters))), ["MemberRole"])

    def test_the_eks_member_role_holds_describe_cluster_only(self):
        granted = T.grants(member(**EKS_TRUSTED, EcsClusterNames="prod", ReplaceDrainedInstances="true").roles()["EksMemberRole"])
        self.assertEqual(granted, {("eks:DescribeCluster", "arn:${AWS::Partition}:eks:*:${AWS::AccountId}:cluster/k8s-prod", "{}")})
        self.assertEqual([g for g in granted if g[0].startswith(("ecs:", "iam:", "autoscaling:", "codedeploy:", "ec2:"))], [])
        ecs = T.grants(member(**EKS_TRUSTED).roles()["MemberRole"])
        self.assertEqual([g for g in ecs if g[0].startswith("eks:")], [], "the ECS member role holds nothing of EKS")

    def test_the_trusted_role_and_organization_are_required_and_checked(self):
        parameters = T.member_template()["Parameters"]
        for name, good, bad in (("CentralFunctionRoleArn", CENTRAL_ROLE, "111111111111"),
                                ("OrganizationId", ORGANIZATION, "r-abcd")):
            self.assertNotIn("Default", parameters[name], f"{name}: no default, no trust by accident")
            self.assertRegex(good, parameters[name]["AllowedPattern"])
            self.assertNotRegex(bad, parameters[name]["AllowedPattern"])
        self.assertNotRegex("*", parameters["CentralFunctionRoleArn"]["AllowedPattern"])
        eks = parameters["CentralEksFunctionRoleArn"]
        self.assertEqual(eks["Default"], "", "optional: the EKS function is trusted only when named")
        self.assertRegex(CENTRAL_EKS_ROLE, eks["AllowedPattern"])
        for bad in ("*", "111111111111", "arn:aws:iam::111111111111:root", "arn:aws:iam::111111111111:role/*"):
            self.assertNotRegex(bad, eks["AllowedPattern"])

    def test_their_names_are_the_ones_the_central_functions_assume(self):
        member_params = T.member_template()["Parameters"]
        central_params = T.sam_template()["Parameters"]
        self.assertEqual(member_params["MemberRoleName"]["Default"], MEMBER_ROLE)
        self.assertEqual(central_params["MemberRoleName"]["Default"], "", "central mode is off unless asked for")
        self.assertEqual(member_params["MemberRoleName"]["AllowedPattern"].replace("{1,64}", "{0,64}"),
                         central_params["MemberRoleName"]["AllowedPattern"])
        for key in ("Type", "Default", "AllowedPattern"):
            self.assertEqual(member_params["EksMemberRoleName"].get(key), central_params["EksMemberRoleName"].get(key), key)
        for central, here in (({"MemberRoleName": MEMBER_ROLE}, {}),
                              ({"MemberRoleName": "remediator"}, {"MemberRoleName": "remediator"}),
                              ({"MemberRoleName": "remediator", "EksMemberRoleName": EKS_MEMBER_ROLE},
                               {"MemberRoleName": "remediator", "EksMemberRoleName": EKS_MEMBER_ROLE})):
            with self.subTest(**central):
                names = member_role_names(central)
                roles = self.named_roles(member(**here, **EKS_TRUSTED))
                self.assertEqual(roles["MemberRole"]["RoleName"], names["ecs-retirement"])
                self.assertEqual(roles["EksMemberRole"]["RoleName"], names["eks-fargate-pod"])
                evaluated = T.sam(central)
                for function, name in names.items():
                    self.assertEqual(evaluated.environment(function)["MEMBER_ROLE_NAME"], name)
                assume = {(role, g[1]) for role, statements in evaluated.roles().items()
                          for g in T.grants(statements) if g[0] == "sts:AssumeRole"}
                self.assertEqual(assume, {(f, f"arn:${{AWS::Partition}}:iam::*:role/{n}") for f, n in names.items()},
                                 "each function, its own member role's name only")
        outputs = T.member_template()["Outputs"]
        self.assertEqual(outputs["MemberRoleArn"]["Value"], {"Fn::GetAtt": ["MemberRole", "Arn"]})
        self.assertEqual(outputs["EksMemberRoleArn"]["Value"], {"Fn::GetAtt": ["EksMemberRole", "Arn"]})

    def test_created_in_one_region_only(self):
        """IAM is global: with a stack per Region, MemberRoleRegion names the one that creates it."""
        self.assertIn("MemberRole", member().resources)
        self.assertNotIn("MemberRole", member(MemberRoleRegion="eu-west-1").resources)  # not ${AWS::Region}
        self.assertIn("EksMemberRole", member(**EKS_TRUSTED).resources)
        self.assertNotIn("EksMemberRole", member(**EKS_TRUSTED, MemberRoleRegion="eu-west-1").resources)
        condition = T.member_template()["Conditions"]["CreateMemberRole"]
        self.assertEqual(condition, {"Fn::Or": [{"Fn::Equals": [{"Ref": "MemberRoleRegion"}, ""]},
                                                {"Fn::Equals": [{"Ref": "MemberRoleRegion"}, {"Ref": "AWS::Region"}]}]})

    def test_the_shared_parameters_read_the_same_as_the_central_stacks(self):
        central = T.sam_template()["Parameters"]
        here = T.member_template()["Parameters"]
        for name in SHARED:
            for key in ("Type", "Default", "AllowedPattern", "AllowedValues"):
                self.assertEqual(here[name].get(key), central[name].get(key), f"{name} {key}")


class SameGrantsAsTheFunction(unittest.TestCase):
    """Each member role's grants are its function's own remediation grants, in every Region: the ECS
    member role's the ECS function's always, the EKS member role's the EKS function's when its role is
    trusted and clusters are named."""

    @classmethod
    def setUpClass(cls):
        cls.variants = central_variants()

    def test_for_every_configuration_the_grants_are_equal(self):
        checked = set()
        for label, params, central in self.variants:
            shared = {k: params[k] for k in SHARED if k in params}
            ecs = remediation(central, "ecs-retirement")
            eks = remediation(central, "eks-fargate-pod")
            for trusted in (None, CENTRAL_EKS_ROLE):
                extra = {"CentralEksFunctionRoleArn": trusted} if trusted else {}
                roles = member(**shared, **extra).roles()
                expected = {"MemberRole": ecs}
                if trusted and eks:
                    expected["EksMemberRole"] = eks
                with self.subTest(variant=label, eks_trusted=bool(trusted)):
                    self.assertEqual(sorted(roles), sorted(expected), "one member role per function")
                    for role, function in expected.items():
                        here = T.grants(roles[role])
                        self.assertEqual({g[0] for g in here}, {g[0] for g in function}, f"{role}: the same actions")
                        self.assertEqual((sorted(here - function), sorted(function - here)), ([], []),
                                         f"{role}: (action, resource, condition) granted by the member role only, by the function only")
            checked.add(label.split(" ")[0])
        self.assertIn("SAM", checked)

    def test_the_eks_function_s_describe_cluster_is_granted_when_it_is_trusted(self):
        sam = T.sam({"EksClusterNames": "k8s-prod,k8s-batch"})
        eks = {g for g in T.grants(sam.roles()["eks-fargate-pod"]) if g[0] == "eks:DescribeCluster"}
        self.assertEqual(len(eks), 2)
        trusted = T.grants(member(CentralEksFunctionRoleArn=CENTRAL_EKS_ROLE,
                                  EksClusterNames="k8s-prod,k8s-batch").roles()["EksMemberRole"])
        self.assertLessEqual({every_region(g) for g in eks}, trusted)
        self.assertEqual(sorted(g[1] for g in trusted if g[0].startswith("eks:")),
                         ["arn:${AWS::Partition}:eks:*:${AWS::AccountId}:cluster/k8s-batch",
                          "arn:${AWS::Partition}:eks:*:${AWS::AccountId}:cluster/k8s-prod"])
        # Not trusted, or no cluster named: no EKS action at all.
        for parameters in ({"EksClusterNames": "k8s-prod"}, {"CentralEksFunctionRoleArn": CENTRAL_EKS_ROLE}):
            with self.subTest(**parameters):
                roles = member(**parameters).roles()
                self.assertNotIn("EksMemberRole", roles)
                self.assertEqual([g for g in T.grants(roles["MemberRole"]) if g[0].startswith("eks:")], [])

    def test_terminate_in_auto_scaling_group_only_with_replace_drained_instances(self):
        """As the central function's: absent by default, on every group of the account (any Region)
        but one tagged retirement-remediator/skip=true with ReplaceDrainedInstances=true."""
        terminate = "autoscaling:TerminateInstanceInAutoScalingGroup"
        self.assertEqual([g for g in T.grants(member().roles()["MemberRole"]) if g[0] == terminate], [])
        self.assertEqual([g for g in T.grants(member(ReplaceDrainedInstances="false").roles()["MemberRole"])
                          if g[0] == terminate], [])
        granted = [g for g in T.grants(member(ReplaceDrainedInstances="true").roles()["MemberRole"]) if g[0] == terminate]
        self.assertEqual(granted, [(terminate, "arn:${AWS::Partition}:autoscaling:*:${AWS::AccountId}:autoScalingGroup:*:autoScalingGroupName/*",
                                    json.dumps({"StringNotEquals": {"autoscaling:ResourceTag/retirement-remediator/skip": ["true"]}}))])
        central = {every_region(g) for g in T.grants(T.sam({"ReplaceDrainedInstances": "true"}).roles()["ecs-retirement"])
                   if g[0] == terminate}
        self.assertEqual(set(granted), central)

    def test_the_container_instance_grants_follow_ecs_cluster_names(self):
        grants = T.grants(member(EcsClusterNames="prod").roles()["MemberRole"])
        for action in ("ecs:DescribeContainerInstances", "ecs:UpdateContainerInstancesState",
                       "ecs:PutAttributes", "ecs:DeleteAttributes"):
            self.assertEqual([g[1] for g in grants if g[0] == action],
                             ["arn:${AWS::Partition}:ecs:*:${AWS::AccountId}:container-instance/prod/*"], action)
        self.assertEqual([g[1] for g in grants if g[0] == "ecs:ListContainerInstances"],
                         ["arn:${AWS::Partition}:ecs:*:${AWS::AccountId}:cluster/prod"])

    def test_the_comparison_sees_the_settings(self):
        default = T.grants(member().roles()["MemberRole"])
        narrowed = T.grants(member(EcsClusterNames="prod", PassableTaskRoles="none").roles()["MemberRole"])
        text = json.dumps(sorted(narrowed))
        self.assertNotEqual(default, narrowed)
        self.assertIn(":service/prod/*", text)
        self.assertNotIn("iam:PassRole", text)
        self.assertIn("ecs-tasks.amazonaws.com", json.dumps(sorted(default)))
        roles = member(CentralEksFunctionRoleArn=CENTRAL_EKS_ROLE, EksClusterNames="k8s-prod").roles()
        self.assertEqual(T.grants(roles["MemberRole"]), default, "the ECS member role does not change")
        self.assertEqual(T.grants(roles["EksMemberRole"]), {("eks:DescribeCluster",
                                                             "arn:${AWS::Partition}:eks:*:${AWS::AccountId}:cluster/k8s-prod", "{}")})

    def test_only_what_the_functions_do_in_their_own_stack_is_left_out(self):
        sam = T.sam(CONFIGURATIONS["every setting changed"][0])
        for function in T.FUNCTIONS.values():
            left_out = sorted({g[0] for g in T.grants(sam.roles()[function]) if central_only(g)})
            with self.subTest(function=function):
                own = ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem",
                       "dynamodb:UpdateItem", "iam:PassRole", "kms:Decrypt", "kms:GenerateDataKey",
                       "scheduler:CreateSchedule", "sns:Publish", "sqs:SendMessage", "sts:AssumeRole"]
                if function == "ecs-retirement":  # ConfirmNotices=health-api: AWS Health, asked centrally
                    own += ["health:DescribeAffectedEntities", "health:DescribeAffectedEntitiesForOrganization",
                            "health:DescribeEventDetails", "health:DescribeEventDetailsForOrganization",
                            # OrganizationAccounts=on: the members listed from the central account
                            "organizations:ListAccounts",
                            # the scheduled preflight's PassRole simulation of its own role
                            "iam:SimulatePrincipalPolicy"]
                self.assertEqual(left_out, sorted(own))
        kept = sorted({g[0] for g in T.grants(sam.roles()["eks-fargate-pod"]) if not central_only(g)})
        self.assertEqual(kept, ["eks:DescribeCluster"])


class Forwarding(unittest.TestCase):
    def rules(self, evaluated):
        return {n: evaluated.value(r["Properties"]) for n, r in evaluated.resources.items()
                if r["Type"] == "AWS::Events::Rule"}

    def test_no_rules_or_forwarding_role_without_a_central_bus(self):
        evaluated = member()
        self.assertEqual(self.rules(evaluated), {})
        self.assertNotIn("ForwardingRole", evaluated.resources)
        self.assertEqual(sorted(evaluated.roles()), ["MemberRole"])

    def test_the_rules_use_the_central_rules_patterns(self):
        central = sorted(json.dumps(p, sort_keys=True) for p in rule_patterns().values())
        self.assertEqual(len(central), 3, "ECS task retirements, EC2 scheduled events, EKS pod terminations")
        rules = self.rules(member(CentralEventBusArn=BUS))
        self.assertEqual(sorted(json.dumps(r["EventPattern"], sort_keys=True) for r in rules.values()), central)
        # ForwardEksEvents=false: the ECS function's rules only (the ECS retirement and the EC2 scheduled events).
        only_ecs = self.rules(member(CentralEventBusArn=BUS, ForwardEksEvents="false"))
        ecs_patterns = sorted(json.dumps(p, sort_keys=True) for event, p in rule_patterns().items()
                              if rule_functions()[event] == "EcsRetirementFunction")
        self.assertEqual(len(ecs_patterns), 2)
        self.assertEqual(sorted(json.dumps(r["EventPattern"], sort_keys=True) for r in only_ecs.values()), ecs_patterns)

    def test_the_ec2_scheduled_events_are_forwarded(self):
        """Every EC2 fixture the central ECS function takes matches a forwarding rule's pattern: the
        member forwards the same codes (test_event_patterns routes the fixtures themselves)."""
        rules = self.rules(member(CentralEventBusArn=BUS))
        ec2 = [r["EventPattern"] for r in rules.values() if r["EventPattern"].get("detail", {}).get("service") == ["EC2"]]
        self.assertEqual(ec2, [rule_patterns()["Ec2ScheduledEvents"]])

    def test_each_rule_targets_the_central_bus_only_through_the_forwarding_role(self):
        for name, rule in self.rules(member(CentralEventBusArn=BUS)).items():
            with self.subTest(rule=name):
                self.assertEqual(rule.get("State", "ENABLED"), "ENABLED")
                self.assertNotIn("EventBusName", rule, "the member's default bus, where AWS puts the events")
                self.assertEqual([(t["Arn"], t["RoleArn"]) for t in rule["Targets"]], [(BUS, "${ForwardingRole.Arn}")])

    def test_the_forwarding_role_may_put_events_on_the_central_bus_only(self):
        evaluated = member(CentralEventBusArn=BUS)
        self.assertEqual(T.grants(evaluated.roles()["ForwardingRole"]), {("events:PutEvents", BUS, "{}")})
        trust = evaluated.value(evaluated.resources["ForwardingRole"]["Properties"]["AssumeRolePolicyDocument"])
        self.assertEqual([(st["Principal"], st["Condition"]) for st in trust["Statement"]],
                         [({"Service": "events.amazonaws.com"}, {"StringEquals": {"aws:SourceAccount": "${AWS::AccountId}"}})])
        pattern = T.member_template()["Parameters"]["CentralEventBusArn"]["AllowedPattern"]
        self.assertRegex(BUS, pattern)
        self.assertRegex("", pattern)
        self.assertNotRegex("*", pattern)


class DocumentedGrants(unittest.TestCase):
    """The member stack's grants against iam_reference.json, as test_iam_policies checks the central
    stack's. A "*" Region stands for each Region: it is checked as one."""

    def test_each_grant_is_documented(self):
        evaluated = member(CentralEventBusArn=BUS, EcsClusterNames="prod,batch-*", ReplaceDrainedInstances="true",
                           PassableTaskRoles="ecs-tasks/*,app/web-task-role",
                           CentralEksFunctionRoleArn=CENTRAL_EKS_ROLE, EksClusterNames="k8s-prod,k8s-*")
        checked = 0
        for role, statements in evaluated.roles().items():
            for st in statements:
                for action in listed(st["Action"]):
                    row = REFERENCE["actions"].get(action)
                    with self.subTest(role=role, action=action):
                        self.assertIsNotNone(row, f"{action} is not in iam_reference.json")
                        types = [REFERENCE["resource_types"][action.split(":")[0]][t] for t in row["resource_types"]]
                        documented = list(row["condition_keys"]) + REFERENCE["global_condition_keys"]["keys"]
                        for t in types:
                            documented += t["condition_keys"]
                        for key in condition_keys(st):
                            self.assertTrue(any(key_pattern(d).match(key) for d in documented), key)
                        for resource in listed(st["Resource"]):
                            if row.get("granted_as"):
                                self.assertEqual(resource, row["granted_as"]["resource"])
                                continue
                            if resource == "*":
                                self.assertEqual(types, [], f"{action} documents resource types: not *")
                                continue
                            arn = re.sub(r"^(arn:aws:[a-z0-9-]+):\*:", r"\1:us-east-1:", concrete(resource, evaluated))
                            patterns = [t["arn"] for t in types]
                            self.assertTrue(any(arn_pattern(p).match(arn) for p in patterns), f"{arn}: {patterns}")
                            checked += 1
        self.assertGreater(checked, 10)

    def test_no_wildcard_action_and_pass_role_to_ecs_tasks_only(self):
        everything = member(CentralEventBusArn=BUS, CentralEksFunctionRoleArn=CENTRAL_EKS_ROLE, EksClusterNames="k8s-prod")
        for role, statements in everything.roles().items():
            for st in statements:
                for action in listed(st["Action"]):
                    self.assertNotIn("*", action, f"{role}: {action}")
                if "iam:PassRole" in listed(st["Action"]):
                    self.assertEqual(st["Condition"], {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}})


if __name__ == "__main__":
    unittest.main()
