"""moto server for the test kit, run in-process so tests can reach state the API cannot set.

Usage: python moto_server.py PORT
Serves the AWS APIs on 127.0.0.1:PORT (moto's ThreadedMotoServer) and reads control commands,
one per line, on stdin, answering `ok` or `error ...` on stdout:

    codedeploy-status ACCOUNT REGION DEPLOYMENT_ID STATUS   # moto leaves deployments `Created`
    codedeploy-forget ACCOUNT REGION DEPLOYMENT_ID          # a deployment aged out of CodeDeploy
    network REGION        # -> ok SUBNET SUBNET SECURITY_GROUP: two default-VPC subnets and a
                          #    security group, which ECS checks awsvpc settings against
    eks-cluster REGION NAME [ACCOUNT]
                          # an EKS cluster (moto gives it a fake endpoint and CA), in ACCOUNT
                          # (through an assumed role there) or the default one
    ecs-deployment-config ACCOUNT REGION CLUSTER SERVICE MIN MAX [BREAKER]
                          # min/max percent on a service (moto's CreateService drops them);
                          # BREAKER on|off: the deployment circuit breaker (rollback alike)
    ecs-rollout ACCOUNT REGION CLUSTER SERVICE STATE [REASON...]
                          # ECS moves the PRIMARY deployment on: COMPLETED (its tasks all run,
                          # older deployments drained and gone), FAILED (the circuit breaker),
                          # IN_PROGRESS; the service deployment follows (SUCCESSFUL,
                          # ROLLBACK_SUCCESSFUL, IN_PROGRESS)
    ecs-strategy ACCOUNT REGION CLUSTER SERVICE STRATEGY BAKE_MINUTES PAUSE_HOOKS
                          # deploymentConfiguration.strategy / bakeTimeInMinutes and that many
                          # PAUSE lifecycle hooks (moto's CreateService drops them)
    ecs-express ACCOUNT REGION CLUSTER SERVICE
                          # resourceManagementType ECS: an Express Mode service
    ecs-service-deployment ACCOUNT REGION CLUSTER SERVICE STATUS STAGE [HOOK_STATUS ACTION MINUTES]
                          # the service's current service deployment moves to STATUS in STAGE;
                          # with a hook: one PAUSE hook in HOOK_STATUS, timeout action ACTION,
                          # expiring MINUTES from now (-> ok HOOK_ID)
    ecs-task-exit ACCOUNT REGION CLUSTER TASK_ID EXIT_CODE
                          # the task's essential container exits by itself with EXIT_CODE (a
                          # one-off job that finished, or crashed): see model_ecs_stop_codes

Exits when stdin closes (the test kit dropped it).
"""

import os
import sys

from moto.server import ThreadedMotoServer

# Answers go to the real stdout; anything else moto or its libraries print goes to stderr, so
# an unread stdout pipe can never fill up and stall the server.
ANSWERS = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)
sys.stdout = sys.stderr


def control(words, port):
    """Runs one command; returns the words to answer after `ok`."""
    from moto.codedeploy.models import codedeploy_backends

    if words[0] == "codedeploy-status" and len(words) == 5:
        _, account, region, deployment_id, status = words
        codedeploy_backends[account][region].deployments[deployment_id].status = status
    elif words[0] == "codedeploy-forget" and len(words) == 4:
        _, account, region, deployment_id = words
        del codedeploy_backends[account][region].deployments[deployment_id]
    elif words[0] == "network" and len(words) == 2:
        import boto3

        ec2 = boto3.client(
            "ec2", region_name=words[1], endpoint_url=f"http://127.0.0.1:{port}",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )
        subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
        vpc = subnets[0]["VpcId"]
        existing = ec2.describe_security_groups(
            Filters=[{"Name": "group-name", "Values": ["remediator-test"]}, {"Name": "vpc-id", "Values": [vpc]}]
        )["SecurityGroups"]
        group = existing[0]["GroupId"] if existing else ec2.create_security_group(
            GroupName="remediator-test", Description="test kit", VpcId=vpc
        )["GroupId"]
        return [subnets[0]["SubnetId"], subnets[1]["SubnetId"], group]
    elif words[0] == "ecs-deployment-config" and len(words) in (7, 8):
        from moto.ecs.models import ecs_backends

        _, account, region, cluster, service, low, high, *breaker = words
        configuration = {"minimumHealthyPercent": int(low), "maximumPercent": int(high)}
        if breaker:
            on = breaker[0] == "on"
            configuration["deploymentCircuitBreaker"] = {"enable": on, "rollback": on}
        ecs_backends[account][region].services[f"{cluster}:{service}"].deployment_configuration = configuration
    elif words[0] == "ecs-rollout" and len(words) >= 6:
        from moto.ecs.models import ecs_backends

        _, account, region, cluster, service, state, *reason = words
        svc = ecs_backends[account][region].services[f"{cluster}:{service}"]
        primary = next(d for d in svc.deployments if d["status"] == "PRIMARY")
        primary["rolloutState"] = state
        primary["rolloutStateReason"] = " ".join(reason) or f"ECS deployment {primary['id']} {state.lower()}."
        primary["updatedAt"] = utcnow()
        current = SERVICE_DEPLOYMENTS.get(getattr(svc, "current_service_deployment", None))
        if current is not None:
            current["status"] = {"COMPLETED": "SUCCESSFUL", "FAILED": "ROLLBACK_SUCCESSFUL"}.get(state, "IN_PROGRESS")
            current["updatedAt"] = utcnow()
        if state == "COMPLETED":
            primary["runningCount"] = primary["desiredCount"]
            primary["pendingCount"] = 0
            svc.deployments = [primary]
        elif state == "FAILED":
            primary["failedTasks"] = primary.get("failedTasks", 0) + 1
    elif words[0] == "ecs-strategy" and len(words) == 8:
        from moto.ecs.models import ecs_backends

        _, account, region, cluster, service, strategy, bake, hooks = words
        svc = ecs_backends[account][region].services[f"{cluster}:{service}"]
        config = dict(getattr(svc, "deployment_configuration", None) or {})
        config.update({"strategy": strategy, "bakeTimeInMinutes": int(bake)})
        config["lifecycleHooks"] = [
            {"targetType": "PAUSE", "lifecycleStages": ["POST_SCALE_UP"],
             "timeoutConfiguration": {"timeoutInMinutes": 1440, "action": "ROLLBACK"}}
            for _ in range(int(hooks))
        ]
        svc.deployment_configuration = config
    elif words[0] == "ecs-express" and len(words) == 5:
        from moto.ecs.models import ecs_backends

        _, account, region, cluster, service = words
        ecs_backends[account][region].services[f"{cluster}:{service}"].resource_management_type = "ECS"
    elif words[0] == "ecs-service-deployment" and len(words) in (7, 10):
        import datetime

        from moto.ecs.models import ecs_backends

        _, account, region, cluster, service, status, stage, *hook = words
        svc = ecs_backends[account][region].services[f"{cluster}:{service}"]
        current = SERVICE_DEPLOYMENTS[svc.current_service_deployment]
        current.update({"status": status, "lifecycleStage": stage, "updatedAt": utcnow()})
        if hook:
            hook_status, action, minutes = hook
            hook_id = "ecs-pause-" + current["serviceDeploymentArn"].rsplit("/", 1)[-1]
            current["lifecycleHookDetails"] = [{
                "hookId": hook_id, "targetType": "PAUSE", "status": hook_status,
                "expiresAt": utcnow() + datetime.timedelta(minutes=int(minutes)),
                "timeoutAction": action,
            }]
            return [hook_id]
    elif words[0] == "eks-cluster" and len(words) in (3, 4):
        import boto3

        endpoint = f"http://127.0.0.1:{port}"
        keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        if len(words) == 4:
            creds = boto3.client("sts", region_name=words[1], endpoint_url=endpoint, **keys).assume_role(
                RoleArn=f"arn:aws:iam::{words[3]}:role/seed", RoleSessionName="seed",
            )["Credentials"]
            keys = {
                "aws_access_key_id": creds["AccessKeyId"],
                "aws_secret_access_key": creds["SecretAccessKey"],
                "aws_session_token": creds["SessionToken"],
            }
        eks = boto3.client("eks", region_name=words[1], endpoint_url=endpoint, **keys)
        eks.create_cluster(
            name=words[2], roleArn="arn:aws:iam::123456789012:role/eks",
            resourcesVpcConfig={"subnetIds": ["subnet-0aaa", "subnet-0bbb"]},
        )
    elif words[0] == "ecs-task-exit" and len(words) == 6:
        from moto.ecs.models import ecs_backends

        _, account, region, cluster, task_id, code = words
        backend = ecs_backends[account][region]
        task = backend.stop_task(cluster, task_id, "Essential container in task exited")
        task.stop_code = "EssentialContainerExited"
        for container in task.containers:
            container.last_status = "STOPPED"
            container.exitCode = int(code)
    else:
        raise ValueError(f"unknown command {' '.join(words)!r}")


def serialize_dynamodb():
    """Real DynamoDB applies a conditional write atomically: of two concurrent claims on one
    item, exactly one wins. moto's threaded server checks the condition and writes without a
    lock, so both can win (seen here with two deliveries running at once). The test kit models
    the real behaviour by running moto's DynamoDB item operations one at a time."""
    import threading

    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in (
        "put_item", "update_item", "delete_item", "get_item", "batch_get_item",
        "batch_write_item", "transact_write_items", "query", "scan",
    ):
        original = getattr(DynamoDBBackend, name, None)
        if original is None:
            continue

        def locked(self, *args, _original=original, **kwargs):
            with lock:
                return _original(self, *args, **kwargs)

        setattr(DynamoDBBackend, name, locked)


def utcnow():
    from moto.core.utils import utcnow as now

    return now()


def model_ecs_attribute_deletion():
    """Real ECS deletes a custom attribute by name and target ("don't specify the value", the
    DeleteAttributes API reference); moto deletes it only when the request repeats its value.
    The test kit models ECS."""
    from moto.ecs.models import EC2ContainerServiceBackend

    original = EC2ContainerServiceBackend._delete_attribute

    def delete(self, cluster_name, name, value=None, target_id=None, target_type=None):
        if value is None and target_id is not None and target_type is None:
            instance = self.container_instances[cluster_name].get(target_id.rsplit("/", 1)[-1])
            if instance is not None and name in instance.attributes:
                value = instance.attributes[name]
        return original(self, cluster_name, name, value, target_id, target_type)

    EC2ContainerServiceBackend._delete_attribute = delete


# Service deployments by ARN (moto has none): what DescribeServiceDeployments answers.
SERVICE_DEPLOYMENTS = {}


def model_ecs_service_deployments():
    """Real ECS records every deployment of a service as a service deployment
    (`currentServiceDeployment` on the service; `ListServiceDeployments`,
    `DescribeServiceDeployments` with its status, lifecycle stage and lifecycle hooks). moto has
    no such API (it answers 500). The test kit models them: a forced deployment starts one,
    `IN_PROGRESS` in `SCALE_UP`; `ecs-rollout` and `ecs-service-deployment` move it on."""
    from moto.core.responses import ActionResult
    from moto.ecs.responses import EC2ContainerServiceResponse

    def describe_service_deployments(self):
        arns = self._get_param("serviceDeploymentArns", [])
        found = [SERVICE_DEPLOYMENTS[a] for a in arns if a in SERVICE_DEPLOYMENTS]
        failures = [{"arn": a, "reason": "MISSING"} for a in arns if a not in SERVICE_DEPLOYMENTS]
        return ActionResult({"serviceDeployments": found, "failures": failures})

    def list_service_deployments(self):
        service = self._get_param("service", "").split("/")[-1]
        cluster = self._get_param("cluster", "default").split("/")[-1]
        briefs = [
            {k: d[k] for k in ("serviceDeploymentArn", "serviceArn", "clusterArn", "createdAt", "status") if k in d}
            for d in SERVICE_DEPLOYMENTS.values()
            if d["serviceDeploymentArn"].split("/")[-3:-1] == [cluster, service]
        ]
        return ActionResult({"serviceDeployments": briefs})

    EC2ContainerServiceResponse.describe_service_deployments = describe_service_deployments
    EC2ContainerServiceResponse.list_service_deployments = list_service_deployments


def start_service_deployment(service, cluster):
    import uuid

    arn = service.arn.replace(":service/", ":service-deployment/", 1)
    if arn.count("/") < 2:  # the old ARN form names no cluster
        arn = arn.replace(":service-deployment/", f":service-deployment/{cluster}/", 1)
    arn = f"{arn}/{uuid.uuid4().hex[:21]}"
    now = utcnow()
    SERVICE_DEPLOYMENTS[arn] = {
        "serviceDeploymentArn": arn, "serviceArn": service.arn, "clusterArn": service.cluster_arn,
        "createdAt": now, "startedAt": now, "updatedAt": now,
        "status": "IN_PROGRESS", "lifecycleStage": "SCALE_UP",
    }
    service.current_service_deployment = arn


def model_ecs_deployments():
    """Real ECS: a forced deployment starts a new PRIMARY deployment (`IN_PROGRESS`, no task of
    it running yet) while the previous one stays `ACTIVE` with its tasks until ECS has replaced
    them. moto only gives its one deployment a new id, so every forced deployment would look
    finished at once. The test kit models ECS; tests move the rollout on with `ecs-rollout`."""
    import copy

    from moto.ecs.models import EC2ContainerServiceBackend

    original = EC2ContainerServiceBackend.update_service

    def update_service(self, service_properties):
        force = service_properties.get("force_new_deployment", False)
        cluster = service_properties.get("cluster", "default").split("/")[-1]
        name = service_properties.get("service", "").split("/")[-1]
        service = self.services.get(f"{cluster}:{name}")
        before = copy.deepcopy(service.deployments[0]) if service and service.deployments else None
        result = original(self, service_properties)
        if force and before is not None and result.deployments:
            primary = result.deployments[0]
            primary.update({
                "status": "PRIMARY", "rolloutState": "IN_PROGRESS", "runningCount": 0,
                "pendingCount": primary.get("desiredCount", 0), "failedTasks": 0,
                "rolloutStateReason": f"ECS deployment {primary['id']} in progress.",
            })
            before.update({"status": "ACTIVE", "runningCount": max(before.get("runningCount", 0), before.get("desiredCount", 0))})
            result.deployments = [primary, before] + [
                d for d in result.deployments[1:] if d["id"] != before["id"]
            ]
            start_service_deployment(result, cluster)
        return result

    EC2ContainerServiceBackend.update_service = update_service


def model_ecs_task_health():
    """Real ECS computes a task's `healthStatus` from its *essential* containers only: a task
    whose only health check is on a non-essential container (a sidecar) stays `UNKNOWN`, as does
    one without health checks (domain notes §7). moto gives every container `HEALTHY` and the
    task no `healthStatus` at all. The test kit models ECS: a task is `HEALTHY` (a check that
    passes, as moto would have it) when an essential container of its task definition (essential
    is true when absent) has a `healthCheck`, `UNKNOWN` otherwise. The one container moto keeps
    per task (the task definition's first) is `HEALTHY` when it has a check of its own, else
    `UNKNOWN`."""
    from moto.ecs.models import Container, Task

    def essential_checked(task_definition):
        return any(
            c.get("healthCheck") and c.get("essential", True)
            for c in task_definition.container_definitions
        )

    task_init = Task.__init__

    def init_task(self, cluster, task_definition, *args, **kwargs):
        task_init(self, cluster, task_definition, *args, **kwargs)
        self.health_status = "HEALTHY" if essential_checked(task_definition) else "UNKNOWN"

    container_init = Container.__init__

    def init_container(self, task_def):
        container_init(self, task_def)
        checked = bool(task_def.container_definitions[0].get("healthCheck"))
        self.health_status = "HEALTHY" if checked else "UNKNOWN"

    Task.__init__ = init_task
    Container.__init__ = init_container


def model_ecs_stop_codes():
    """Real ECS reports why a task stopped in `stopCode` (`UserInitiated` after StopTask,
    `EssentialContainerExited` when an essential container exited by itself, `TaskFailedToStart`,
    …) and a container's `exitCode` only once it has exited (the ECS API reference, `Task` and
    `Container`). moto gives no `stopCode` and every container `exitCode` 0 from the start, so a
    running task would look like a job that exited 0. The test kit models ECS: no exit code
    while a container runs, `UserInitiated` on StopTask (moto has no process to signal: its
    containers report no exit code), and `ecs-task-exit` for a container that exits by itself
    (the one container moto keeps per task is the task definition's first, essential in the
    tests that use it)."""
    from moto.ecs.models import Container, EC2ContainerServiceBackend

    container_init = Container.__init__

    def init_container(self, task_def):
        container_init(self, task_def)
        self.exitCode = None

    original = EC2ContainerServiceBackend.stop_task

    def stop_task(self, cluster_str, task_str, reason):
        task = original(self, cluster_str, task_str, reason)
        task.stop_code = "UserInitiated"
        return task

    Container.__init__ = init_container
    EC2ContainerServiceBackend.stop_task = stop_task


def model_ecs_tag_limit():
    """Real ECS: a resource holds at most 50 user tags (`aws:` keys are AWS's and do not count),
    and RunTask with more is rejected (domain notes §7). moto takes any number. The test kit
    models ECS's limit on RunTask."""
    from moto.ecs.exceptions import InvalidParameterException
    from moto.ecs.models import EC2ContainerServiceBackend

    original = EC2ContainerServiceBackend.run_task

    def run_task(self, cluster_str, task_definition_str, count, overrides, started_by, tags, *args, **kwargs):
        user = [t for t in tags or [] if not t.get("key", "").startswith("aws:")]
        if len(user) > 50:
            raise InvalidParameterException(
                f"Tags: {len(user)} user tags, at most 50 are allowed per resource"
            )
        return original(self, cluster_str, task_definition_str, count, overrides, started_by, tags, *args, **kwargs)

    EC2ContainerServiceBackend.run_task = run_task


def main():
    port = int(sys.argv[1])
    serialize_dynamodb()
    model_ecs_attribute_deletion()
    model_ecs_deployments()
    model_ecs_service_deployments()
    model_ecs_task_health()
    model_ecs_stop_codes()
    model_ecs_tag_limit()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    print("ready", file=ANSWERS)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        try:
            answer = control(words, port) or []
            print(" ".join(["ok", *answer]), file=ANSWERS)
        except Exception as e:  # report, keep serving
            print(f"error {e!r}", file=ANSWERS)
    server.stop()


if __name__ == "__main__":
    main()
