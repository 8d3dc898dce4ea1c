"""infra/kubernetes/admission-policy.yaml: the remediator's group may restart a workload and change
nothing else about it.

The policy's own CEL expressions (matchConditions, variables, validations), read from the YAML, are
evaluated with cel-python (`celpy`, requirements-dev.txt) on sample UPDATE requests, the way the API
server combines them: the request is matched when every matchCondition is true, each variable is
evaluated in order into `variables`, and the request is admitted when every validation is true (an
evaluation error denies it: failurePolicy Fail). Only standard CEL is used in the policy, so the
same text is what Kubernetes evaluates. Also checked: the policies' shape (UPDATE of apps/v1
Deployments, StatefulSets and DaemonSets; of argoproj.io/v1alpha1 Rollouts, whose one allowed change
is spec.restartAt; Deny, Fail) and the RBAC files' rules.
Needs celpy in the project venv (`make venv`); without it the tests skip, or fail with CI=true.
"""

import copy
import os
import unittest

import yaml

import templates as T

try:
    import celpy
except ImportError:  # pragma: no cover - reported by each test through T._unavailable
    celpy = None

KUBERNETES = os.path.join(T.ROOT, "infra", "kubernetes")
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
GROUP = "retirement-remediator"


def documents(name):
    with open(os.path.join(KUBERNETES, name)) as f:
        return [d for d in yaml.safe_load_all(f) if d]


WORKLOAD_POLICY = "retirement-remediator-restart-only"
ROLLOUT_POLICY = "retirement-remediator-rollout-restart-only"


def policy_documents(name=WORKLOAD_POLICY):
    """The policy `name` and its binding (the workloads' by default; ROLLOUT_POLICY: Argo's)."""
    docs = documents("admission-policy.yaml")
    assert sorted((d["kind"], d["metadata"]["name"]) for d in docs) == sorted(
        (kind, policy) for kind in ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding")
        for policy in (WORKLOAD_POLICY, ROLLOUT_POLICY)), [d["metadata"]["name"] for d in docs]
    by_kind = {d["kind"]: d for d in docs if d["metadata"]["name"] == name}
    return by_kind["ValidatingAdmissionPolicy"], by_kind["ValidatingAdmissionPolicyBinding"]


class Policy:
    """The policy's expressions, compiled once with cel-python."""

    def __init__(self, spec):
        if celpy is None:
            T._unavailable("needs cel-python (import celpy): make venv (requirements-dev.txt)")
        self.env = celpy.Environment()
        self.match = [(c["name"], self.compile(c["expression"])) for c in spec.get("matchConditions", [])]
        self.variables = [(v["name"], self.compile(v["expression"])) for v in spec.get("variables", [])]
        self.validations = [(v.get("message", v["expression"]), self.compile(v["expression"]))
                            for v in spec["validations"]]

    def compile(self, expression):
        return self.env.program(self.env.compile(expression))

    def admit(self, old, new, groups=(GROUP,), username="arn:aws:sts::123456789012:assumed-role/remediator/x"):
        """None when the policy does not match the request; else the list of failed validations'
        messages (empty: admitted). An evaluation error counts as a failure."""
        request = {"operation": "UPDATE", "userInfo": {"username": username, "groups": list(groups)},
                   "kind": {"group": "apps", "version": "v1", "kind": new["kind"]}}
        activation = {"object": celpy.json_to_cel(new), "oldObject": celpy.json_to_cel(old),
                      "request": celpy.json_to_cel(request)}
        for _, program in self.match:
            if not self.truth(program, activation):
                return None
        computed = {}
        for name, program in self.variables:
            activation["variables"] = celpy.celtypes.MapType(computed)
            computed[celpy.celtypes.StringType(name)] = program.evaluate(activation)
        activation["variables"] = celpy.celtypes.MapType(computed)
        return [message for message, program in self.validations if not self.truth(program, activation)]

    @staticmethod
    def truth(program, activation):
        result = program.evaluate(activation)
        if isinstance(result, Exception) or not isinstance(result, celpy.celtypes.BoolType):
            raise AssertionError(f"the expression did not evaluate to a bool: {result!r}")
        return bool(result)


def deployment():
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "api", "namespace": "payments", "labels": {"app": "api"},
                     "annotations": {"deployment.kubernetes.io/revision": "3"}, "generation": 3,
                     "resourceVersion": "1000"},
        "spec": {
            "replicas": 3, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
            "selector": {"matchLabels": {"app": "api"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "api"}, "annotations": {"team": "payments"}},
                "spec": {"serviceAccountName": "api",
                         "containers": [{"name": "api", "image": "registry.example/api:1.4.2",
                                         "ports": [{"containerPort": 8080}]}]},
            },
        },
    }


def statefulset():
    d = deployment()
    d["kind"] = "StatefulSet"
    spec = d["spec"]
    del spec["strategy"], spec["progressDeadlineSeconds"]
    spec.update({"serviceName": "api", "podManagementPolicy": "OrderedReady",
                 "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                 "volumeClaimTemplates": [{"metadata": {"name": "data"},
                                           "spec": {"accessModes": ["ReadWriteOnce"],
                                                    "resources": {"requests": {"storage": "1Gi"}}}}]})
    return d


def daemonset():
    d = deployment()
    d["kind"] = "DaemonSet"
    spec = d["spec"]
    del spec["strategy"], spec["progressDeadlineSeconds"], spec["replicas"]
    spec["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}
    return d


def restarted(workload, stamp="2026-11-20T03:00:00Z"):
    """What the remediator's merge patch makes of the workload (the server's own fields aside): the
    pod template's restartedAt, or an Argo Rollout's spec.restartAt."""
    new = copy.deepcopy(workload)
    if new["kind"] == "Rollout":
        new["spec"]["restartAt"] = stamp
    else:
        new["spec"]["template"].setdefault("metadata", {}).setdefault("annotations", {})[RESTARTED_AT] = stamp
    new["metadata"]["generation"] += 1
    new["metadata"]["resourceVersion"] = "1001"
    new["metadata"]["managedFields"] = [{"manager": "retirement-remediator", "operation": "Update"}]
    return new


# Each apps/v1 spec field of the three kinds, a changed value for it, and the kinds that have it.
SPEC_CHANGES = {
    "replicas": 5,
    "selector": {"matchLabels": {"app": "other"}},
    "strategy": {"type": "Recreate"},
    "updateStrategy": {"type": "OnDelete"},
    "minReadySeconds": 30,
    "revisionHistoryLimit": 1,
    "paused": True,
    "progressDeadlineSeconds": 60,
    "serviceName": "other",
    "podManagementPolicy": "Parallel",
    "volumeClaimTemplates": [],
    "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Delete"},
    "ordinals": {"start": 5},
}
KIND_FIELDS = {
    "Deployment": {"replicas", "selector", "strategy", "minReadySeconds", "revisionHistoryLimit", "paused",
                   "progressDeadlineSeconds"},
    "StatefulSet": {"replicas", "selector", "updateStrategy", "minReadySeconds", "revisionHistoryLimit",
                    "serviceName", "podManagementPolicy", "volumeClaimTemplates",
                    "persistentVolumeClaimRetentionPolicy", "ordinals"},
    "DaemonSet": {"selector", "updateStrategy", "minReadySeconds", "revisionHistoryLimit"},
}
WORKLOADS = {"Deployment": deployment, "StatefulSet": statefulset, "DaemonSet": daemonset}


class PolicyCase(unittest.TestCase):
    """Requests put to the policy POLICY."""
    POLICY = WORKLOAD_POLICY

    @classmethod
    def setUpClass(cls):
        spec, _ = policy_documents(cls.POLICY)
        cls.policy = Policy(spec["spec"])

    def assertAdmitted(self, old, new, **kwargs):
        self.assertEqual(self.policy.admit(old, new, **kwargs), [], "admitted")

    def assertDenied(self, old, new, because=None):
        failed = self.policy.admit(old, new)
        self.assertIsNotNone(failed, "the policy matches the remediator's request")
        self.assertNotEqual(failed, [], "denied")
        if because:
            self.assertTrue(any(because in m for m in failed), failed)

    def assertRestartsAdmitted(self, old):
        """A restart of `old` is admitted, and so is a second one (it changes the stamp only)."""
        self.assertAdmitted(old, restarted(old))
        again = restarted(old)
        self.assertAdmitted(again, restarted(again, "2026-11-27T03:00:00Z"))

    def assertOwnMetadataProtected(self, old):
        """A restart that also changes the object's own labels, annotations, finalizers or
        ownerReferences is denied."""
        for field, value in (("labels", {"app": "api", "exposed": "true"}), ("annotations", {}),
                             ("finalizers", ["example.com/hold"]),
                             ("ownerReferences", [{"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "1"}])):
            with self.subTest(field=field):
                new = restarted(old)
                new["metadata"][field] = value
                self.assertDenied(old, new, f"metadata.{field}")


class RestartOnly(PolicyCase):
    def test_a_restart_patch_is_admitted_for_each_kind(self):
        for kind, make in WORKLOADS.items():
            with self.subTest(kind=kind):
                self.assertRestartsAdmitted(make())

    def test_a_restart_of_a_template_without_annotations_or_metadata_is_admitted(self):
        old = deployment()
        del old["spec"]["template"]["metadata"]["annotations"]
        self.assertAdmitted(old, restarted(old))
        bare = deployment()
        del bare["spec"]["template"]["metadata"]
        self.assertAdmitted(bare, restarted(bare))

    def test_an_image_change_is_denied(self):
        old = deployment()
        new = restarted(old)
        new["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.example/api:evil"
        self.assertDenied(old, new, "pod template's spec")

    def test_a_service_account_change_is_denied(self):
        old = deployment()
        new = copy.deepcopy(old)
        new["spec"]["template"]["spec"]["serviceAccountName"] = "admin"
        self.assertDenied(old, new, "pod template's spec")

    def test_a_replicas_change_is_denied(self):
        old = deployment()
        new = restarted(old)
        new["spec"]["replicas"] = 0
        self.assertDenied(old, new, "spec.replicas")

    def test_every_spec_field_of_each_kind_is_protected(self):
        for kind, fields in KIND_FIELDS.items():
            for field in sorted(fields):
                with self.subTest(kind=kind, field=field):
                    old = WORKLOADS[kind]()
                    new = restarted(old)
                    new["spec"][field] = SPEC_CHANGES[field]
                    self.assertDenied(old, new, f"spec.{field}")
                    if field in old["spec"]:
                        removed = restarted(old)
                        del removed["spec"][field]
                        self.assertDenied(old, removed, f"spec.{field}")

    def test_other_template_annotations_and_labels_are_protected(self):
        old = deployment()
        for change in ("add", "alter", "remove", "label"):
            with self.subTest(change=change):
                new = restarted(old)
                meta = new["spec"]["template"]["metadata"]
                if change == "add":
                    meta["annotations"]["sidecar.istio.io/inject"] = "false"
                elif change == "alter":
                    meta["annotations"]["team"] = "someone-else"
                elif change == "remove":
                    del meta["annotations"]["team"]
                else:
                    meta["labels"]["app"] = "other"
                self.assertDenied(old, new)

    def test_the_workload_s_own_labels_and_annotations_are_protected(self):
        self.assertOwnMetadataProtected(deployment())

    def test_other_users_and_groups_are_not_matched(self):
        old = deployment()
        new = copy.deepcopy(old)
        new["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.example/api:2.0.0"
        self.assertIsNone(self.policy.admit(old, new, groups=("system:authenticated", "developers")))
        self.assertIsNone(self.policy.admit(old, new, groups=()))
        self.assertDenied(old, new)  # the same change by the remediator's group


def rollout():
    """An Argo Rollout (argoproj.io/v1alpha1) with a canary strategy."""
    d = deployment()
    d.update({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout"})
    d["spec"]["strategy"] = {"canary": {"maxUnavailable": 1, "steps": [{"setWeight": 20}, {"pause": {}}]}}
    return d


# Each RolloutSpec field but restartAt (argo-rollouts pkg/apis/rollouts/v1alpha1), and a changed value.
ROLLOUT_SPEC_CHANGES = {
    "replicas": 5,
    "selector": {"matchLabels": {"app": "other"}},
    "template": {"metadata": {"labels": {"app": "api"}}, "spec": {"containers": [{"name": "x", "image": "evil"}]}},
    "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "other"},
    "minReadySeconds": 30,
    "rollbackWindow": {"revisions": 3},
    "strategy": {"blueGreen": {"activeService": "api"}},
    "revisionHistoryLimit": 1,
    "paused": True,
    "progressDeadlineSeconds": 60,
    "progressDeadlineAbort": True,
    "analysis": {"successfulRunHistoryLimit": 1},
}


class RolloutRestartOnly(PolicyCase):
    """The Argo Rollouts policy: spec.restartAt is the one change the group may make."""
    POLICY = ROLLOUT_POLICY

    def test_a_restart_at_patch_is_admitted_and_so_is_a_later_one(self):
        self.assertRestartsAdmitted(rollout())

    def test_a_rollout_with_its_template_in_a_workload_ref_may_be_restarted(self):
        old = rollout()
        del old["spec"]["template"]
        old["spec"]["workloadRef"] = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"}
        self.assertAdmitted(old, restarted(old))

    def test_the_deployment_style_restart_annotation_is_denied_on_a_rollout(self):
        old = rollout()
        new = copy.deepcopy(old)
        new["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT] = "2026-11-20T03:00:00Z"
        self.assertDenied(old, new, "spec.template")

    def test_every_other_spec_field_is_protected(self):
        for field, value in sorted(ROLLOUT_SPEC_CHANGES.items()):
            with self.subTest(field=field):
                old = rollout()
                new = restarted(old)
                new["spec"][field] = value
                self.assertDenied(old, new, f"spec.{field}")
                if field in old["spec"]:
                    removed = restarted(old)
                    del removed["spec"][field]
                    self.assertDenied(old, removed)

    def test_the_rollout_s_own_metadata_is_protected(self):
        self.assertOwnMetadataProtected(rollout())

    def test_other_users_and_groups_are_not_matched(self):
        paused = dict(rollout(), spec=dict(rollout()["spec"], paused=True))
        self.assertIsNone(self.policy.admit(rollout(), paused, groups=("developers",)))
        self.assertDenied(rollout(), paused, "spec.paused")


class Shape(unittest.TestCase):
    def test_the_policy_matches_updates_of_the_three_kinds_and_denies_on_failure(self):
        policy, binding = policy_documents()
        self.assertEqual(policy["apiVersion"], "admissionregistration.k8s.io/v1")
        spec = policy["spec"]
        self.assertEqual(spec["failurePolicy"], "Fail")
        self.assertEqual(spec["matchConstraints"]["resourceRules"], [{
            "apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["UPDATE"],
            "resources": ["deployments", "statefulsets", "daemonsets"]}])
        self.assertEqual([c["expression"] for c in spec["matchConditions"]],
                         [f"'{GROUP}' in request.userInfo.groups"])
        self.assertEqual(binding["apiVersion"], "admissionregistration.k8s.io/v1")
        self.assertEqual(binding["spec"], {"policyName": policy["metadata"]["name"], "validationActions": ["Deny"]})

    def test_the_rollout_policy_matches_updates_of_argo_rollouts_and_denies_on_failure(self):
        policy, binding = policy_documents(ROLLOUT_POLICY)
        spec = policy["spec"]
        self.assertEqual(spec["failurePolicy"], "Fail")
        self.assertEqual(spec["matchConstraints"]["resourceRules"], [{
            "apiGroups": ["argoproj.io"], "apiVersions": ["v1alpha1"], "operations": ["UPDATE"],
            "resources": ["rollouts"]}])
        self.assertEqual([c["expression"] for c in spec["matchConditions"]],
                         [f"'{GROUP}' in request.userInfo.groups"])
        self.assertEqual(binding["spec"], {"policyName": ROLLOUT_POLICY, "validationActions": ["Deny"]})

    def test_the_policy_protects_the_resources_rbac_lets_the_group_patch(self):
        patched = set()
        for name in ("rbac.yaml", "rbac-namespaced.yaml"):
            for doc in documents(name):
                if doc["kind"] in ("ClusterRole", "Role"):
                    for rule in doc["rules"]:
                        if set(rule["verbs"]) - {"get", "list", "watch"}:
                            patched |= {(g, r) for g in rule["apiGroups"] for r in rule["resources"]}
        rules = [rule for name in (WORKLOAD_POLICY, ROLLOUT_POLICY)
                 for rule in policy_documents(name)[0]["spec"]["matchConstraints"]["resourceRules"]]
        matched = {(g, r) for rule in rules for g in rule["apiGroups"] for r in rule["resources"]}
        self.assertEqual(patched, matched)
        self.assertIn(("argoproj.io", "rollouts"), patched)

    def test_the_namespaced_rbac_has_the_cluster_rbac_s_rules_for_the_same_group(self):
        cluster = {d["kind"]: d for d in documents("rbac.yaml")}
        namespaced = {d["kind"]: d for d in documents("rbac-namespaced.yaml")}
        self.assertEqual(sorted(namespaced), ["Role", "RoleBinding"])
        self.assertEqual(namespaced["Role"]["rules"], cluster["ClusterRole"]["rules"])
        for doc in namespaced.values():
            self.assertNotIn("namespace", doc["metadata"], "kubectl apply -n NAMESPACE sets it")
        self.assertEqual(namespaced["RoleBinding"]["subjects"], cluster["ClusterRoleBinding"]["subjects"])
        self.assertEqual(namespaced["RoleBinding"]["subjects"][0]["name"], GROUP)
        self.assertEqual(namespaced["RoleBinding"]["roleRef"]["kind"], "Role")


if __name__ == "__main__":
    unittest.main()
