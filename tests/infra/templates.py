"""Both deployments as CloudFormation sees them, for the IAM and parity tests.

- The SAM template through SAM's own transform (samtranslator, from .venv-sam, which `make infra`
  installs): the functions' roles as SAM generates them, DeadLetterQueue and Globals included.
- The CDK app through an offline synth (infra/cdk/test/synth-parity.ts, stand-in assets, no
  account or Region), which needs infra/cdk/node_modules (`make cdk` runs `npm ci`).
- The member stack of central mode (infra/sam/member.yaml), plain CloudFormation read as it is.
A test that needs one of them (or another tool: cfn-lint, the CEL library) skips without it, unless
INFRA_TESTS_NO_SKIP is set (as the CDK app's npm test sets it when it runs these tests) or CI is
"true" (as CI runs `make test`): then it fails, so that a missing install step cannot pass as a skip.
The one exception under CI=true alone is the CDK app's node_modules, which `make cdk` installs after
`make infra` has run these tests; its npm test runs them again with INFRA_TESTS_NO_SKIP.

`Evaluated` resolves either template for given parameter values: a parameter becomes its value,
Fn::If/Sub/Join/Split/Select are applied, and what only CloudFormation knows is kept symbolic, in one
spelling for both: `${AWS::Region}`, `${LedgerTable}` (a Ref), `${SchedulerRole.Arn}` (a GetAtt).
CDK's logical IDs lose their 8-digit hash suffix, so `LedgerTable38A58B60` reads `LedgerTable` as
in the SAM template.
"""

import functools
import json
import os
import re
import subprocess
import sys
import unittest

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAM_TEMPLATE = os.path.join(ROOT, "infra", "sam", "template.yaml")
MEMBER_TEMPLATE = os.path.join(ROOT, "infra", "sam", "member.yaml")
CDK_DIR = os.path.join(ROOT, "infra", "cdk")
FUNCTIONS = {"EcsRetirementFunction": "ecs-retirement", "EksFargatePodFunction": "eks-fargate-pod"}

# Run by the SAM venv's Python: the template, transformed as `sam deploy` would (CodeUri is a
# local path until `sam package`; the transform wants an S3 location, any will do).
_SAM_TRANSFORM = r"""
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

class NoManagedPolicies:
    def load(self):
        return {}

with open(sys.argv[1]) as f:
    template = yaml_parse(f.read())
for resource in template["Resources"].values():
    if resource["Type"] == "AWS::Serverless::Function":
        resource["Properties"]["CodeUri"] = "s3://stand-in/code.zip"
json.dump(transform(template, {}, NoManagedPolicies()), sys.stdout)
"""


def _sam_python():
    venv = os.path.join(ROOT, ".venv-sam", "bin", "python")
    if os.path.exists(venv):
        return venv
    try:
        import samtranslator  # noqa: F401
        return sys.executable
    except ImportError:
        _unavailable("needs samtranslator: make .venv-sam/.installed (make infra does)")


def must_not_skip():
    """Whether a missing tool fails the test instead of skipping it: under the CDK app's npm test
    (INFRA_TESTS_NO_SKIP) and in CI (CI=true)."""
    return bool(os.environ.get("INFRA_TESTS_NO_SKIP")) or os.environ.get("CI", "").lower() == "true"


def _unavailable(message, rerun_by_cdk=False):
    """Skip, or fail where skipping is not allowed. rerun_by_cdk: the CDK app's node_modules, which
    `make test` installs in `make cdk`, after `make infra`: there the skip is not a hidden gap (the npm
    test reruns these tests with INFRA_TESTS_NO_SKIP), so CI=true alone does not fail it."""
    if os.environ.get("INFRA_TESTS_NO_SKIP") or (must_not_skip() and not rerun_by_cdk):
        raise AssertionError(message)
    raise unittest.SkipTest(message)


@functools.lru_cache(maxsize=None)
def _sam_transformed(path):
    env = dict(os.environ, AWS_DEFAULT_REGION="us-east-1", SAM_CLI_TELEMETRY="0")
    out = subprocess.run([_sam_python(), "-c", _SAM_TRANSFORM, path], capture_output=True, text=True,
                         env=env, timeout=120)
    if out.returncode != 0:
        raise AssertionError(f"the SAM transform of {path} failed:\n{out.stderr}")
    return out.stdout


def sam_template():
    """The SAM template after SAM's transform (a fresh copy)."""
    return json.loads(_sam_transformed(SAM_TEMPLATE))


class _CfnYaml(yaml.SafeLoader):
    """CloudFormation YAML: the short-form tags (!Ref, !Sub, !If, ...) read as their long forms."""


def _intrinsic(loader, suffix, node):
    if isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        value = loader.construct_scalar(node)
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnYaml.add_multi_constructor("!", _intrinsic)


@functools.lru_cache(maxsize=None)
def _member_text():
    with open(MEMBER_TEMPLATE) as f:
        return json.dumps(yaml.load(f, Loader=_CfnYaml))


def member_template():
    """infra/sam/member.yaml in long form (a fresh copy)."""
    return json.loads(_member_text())


def cdk_available():
    return os.path.isdir(os.path.join(CDK_DIR, "node_modules", "aws-cdk-lib"))


@functools.lru_cache(maxsize=None)
def _cdk_synth(configs_json):
    if not cdk_available():
        _unavailable("needs infra/cdk/node_modules: cd infra/cdk && npm ci (make cdk does, and reruns this test)",
                     rerun_by_cdk=True)
    env = dict(os.environ, TS_NODE_TRANSPILE_ONLY="1", CDK_DISABLE_VERSION_CHECK="1")
    out = subprocess.run(["node", "--require", "ts-node/register", os.path.join("test", "synth-parity.ts")],
                         cwd=CDK_DIR, input=configs_json, capture_output=True, text=True, env=env, timeout=300)
    if out.returncode != 0:
        raise AssertionError(f"the CDK synth failed:\n{out.stderr}")
    return out.stdout


def cdk_templates(configs):
    """{name: CDK props} -> {name: synthesized template} (fresh copies)."""
    return json.loads(_cdk_synth(json.dumps(configs, sort_keys=True)))


class NoValue:
    """AWS::NoValue: dropped from the list or object that holds it."""


NO_VALUE = NoValue()
PSEUDO = {"AWS::Partition", "AWS::Region", "AWS::AccountId", "AWS::StackName", "AWS::StackId",
          "AWS::URLSuffix", "AWS::NotificationARNs"}
_CDK_HASH = re.compile(r"^(.+?)[0-9A-F]{8}$")
_CDK_FUNCTION_ROLES = {"EcsRetirementFunctionServiceRole": "EcsRetirementFunctionRole",
                       "EksFargatePodFunctionServiceRole": "EksFargatePodFunctionRole"}


class Evaluated:
    """A template with its parameters set: `value()` resolves any part of it."""

    def __init__(self, template, parameters=None, cdk=False):
        self.template = template
        self.cdk = cdk
        self.parameters = {}
        given = dict(parameters or {})
        for name, spec in (template.get("Parameters") or {}).items():
            if name in given:
                raw = given.pop(name)
            elif "Default" in spec:
                raw = spec["Default"]
            else:
                continue  # CDK's asset parameters and the like
            raw = str(raw)
            self.parameters[name] = raw.split(",") if spec.get("Type") == "CommaDelimitedList" else raw
        if given:
            raise AssertionError(f"the template has no parameter {sorted(given)}")
        self.canonical = {name: self._canonical(name) for name in template.get("Resources", {})}
        self._conditions = {}
        self.resources = {self.canonical[n]: r for n, r in template["Resources"].items()
                          if "Condition" not in r or self.condition(r["Condition"])}

    def _canonical(self, logical_id):
        if self.cdk:
            m = _CDK_HASH.match(logical_id)
            if m:
                # A function's own role: CDK's FunctionServiceRole is SAM's FunctionRole.
                return _CDK_FUNCTION_ROLES.get(m.group(1), m.group(1))
        return logical_id

    def condition(self, name):
        if name not in self._conditions:
            self._conditions[name] = self._truth(self.template["Conditions"][name])
        return self._conditions[name]

    def _truth(self, expr):
        (fn, args), = expr.items()
        if fn == "Condition":
            return self.condition(args)
        if fn == "Fn::Equals":
            return self.value(args[0]) == self.value(args[1])
        if fn == "Fn::Not":
            return not self._truth(args[0])
        if fn == "Fn::And":
            return all(self._truth(a) for a in args)
        if fn == "Fn::Or":
            return any(self._truth(a) for a in args)
        raise AssertionError(f"unknown condition function {fn}")

    def _ref(self, name):
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in PSEUDO:
            return "${%s}" % name
        if name in self.parameters:
            return self.parameters[name]
        if name in self.canonical:
            return "${%s}" % self.canonical[name]
        raise AssertionError(f"Ref to unknown {name}")

    def value(self, x):
        if isinstance(x, list):
            items = [self.value(i) for i in x]
            return [i for i in items if i is not NO_VALUE]
        if not isinstance(x, dict):
            return x if isinstance(x, str) or x is None or isinstance(x, bool) else str(x)
        if len(x) == 1:
            (fn, args), = x.items()
            if fn == "Ref":
                return self._ref(args)
            if fn == "Fn::GetAtt":
                name, attribute = args if isinstance(args, list) else args.split(".", 1)
                return "${%s.%s}" % (self.canonical.get(name, name), attribute)
            if fn == "Fn::If":
                return self.value(args[1] if self.condition(args[0]) else args[2])
            if fn == "Fn::Join":
                parts = self.value(args[1])
                assert all(isinstance(p, str) for p in parts), f"Fn::Join of {parts}"
                return self.value(args[0]).join(parts)
            if fn == "Fn::Split":
                return self.value(args[1]).split(self.value(args[0]))
            if fn == "Fn::Select":
                return self.value(args[1])[int(self.value(args[0]))]
            if fn == "Fn::Sub":
                text, variables = (args, {}) if isinstance(args, str) else args
                variables = {k: self.value(v) for k, v in variables.items()}
                return re.sub(r"\$\{([^}!]+)\}", lambda m: self._sub(m.group(1), variables), text)
            if fn.startswith("Fn::"):
                raise AssertionError(f"{fn} is not evaluated here")
        out = {k: self.value(v) for k, v in x.items()}
        return {k: v for k, v in out.items() if v is not NO_VALUE}

    def _sub(self, name, variables):
        if name in variables:
            value = variables[name]
        elif "." in name:
            resource, attribute = name.split(".", 1)
            value = "${%s.%s}" % (self.canonical.get(resource, resource), attribute)
        else:
            value = self._ref(name)
        assert isinstance(value, str), f"${{{name}}} is {value!r}, not a string"
        return value

    # What the tests look at.

    def functions(self):
        """{"ecs-retirement" | "eks-fargate-pod": the Lambda function resource, evaluated}."""
        found = {}
        for name, resource in self.resources.items():
            if resource["Type"] == "AWS::Lambda::Function" and name in FUNCTIONS:
                found[FUNCTIONS[name]] = self.value(resource)
        assert set(found) == set(FUNCTIONS.values()), f"functions found: {sorted(found)}"
        return found

    def environment(self, function):
        return self.functions()[function]["Properties"].get("Environment", {}).get("Variables", {})

    def role_of(self, function):
        """The role the function runs with, as its canonical logical ID."""
        role = self.functions()[function]["Properties"]["Role"]
        m = re.fullmatch(r"\$\{(.+)\.Arn\}", role)
        assert m, f"{function}'s role is {role}"
        return m.group(1)

    def roles(self):
        """{role: [evaluated statements]}: the role's inline policies and every AWS::IAM::Policy or
        AWS::IAM::ManagedPolicy attached to it (CDK moves what does not fit its default policy to
        managed "overflow" policies). Keys: the function names for the functions' roles, else the
        role's ID."""
        by_role = {}
        for name, resource in self.resources.items():
            if resource["Type"] == "AWS::IAM::Role":
                policies = self.value(resource["Properties"].get("Policies") or [])
                by_role[name] = [s for p in policies for s in _listed(p["PolicyDocument"]["Statement"])]
        for name, resource in self.resources.items():
            if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                document = self.value(resource["Properties"]["PolicyDocument"])
                for role in self.value(resource["Properties"].get("Roles") or []):
                    role = re.fullmatch(r"\$\{(.+)\}", role).group(1)
                    by_role.setdefault(role, []).extend(_listed(document["Statement"]))
        has_functions = any(r["Type"] == "AWS::Lambda::Function" for r in self.resources.values())
        names = {self.role_of(f): f for f in FUNCTIONS.values()} if has_functions else {}
        return {names.get(role, role): statements for role, statements in by_role.items()}

    def managed_policies(self, function):
        role = self.resources[self.role_of(function)]
        return sorted(self.value(role["Properties"].get("ManagedPolicyArns") or []))


def _listed(x):
    return x if isinstance(x, list) else [x]


def grants(statements):
    """Each statement as (action, resource, condition) triples, the condition as sorted JSON whose
    values are sorted lists: how a grant reads whatever the template's spelling."""
    out = set()
    for st in statements:
        assert st.get("Effect") == "Allow", st
        assert "NotAction" not in st and "NotResource" not in st, st
        condition = {op: {k: sorted(_listed(v)) for k, v in keys.items()}
                     for op, keys in (st.get("Condition") or {}).items()}
        condition = json.dumps(condition, sort_keys=True)
        for action in _listed(st["Action"]):
            for resource in _listed(st["Resource"]):
                out.add((action, resource, condition))
    return out


def sam(parameters=None):
    return Evaluated(sam_template(), parameters)


def member(parameters):
    """infra/sam/member.yaml with these parameter values (CentralFunctionRoleArn and OrganizationId
    have no default)."""
    return Evaluated(member_template(), parameters)


def cdk(configs):
    """{name: props} -> {name: Evaluated CDK template}."""
    return {name: Evaluated(t, cdk=True) for name, t in cdk_templates(configs).items()}

