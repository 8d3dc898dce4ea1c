// The remediator in one account and Region: the same resources as infra/sam/template.yaml.
import * as path from 'path';
import { CfnOutput, CfnResource, Duration, RemovalPolicy, Stack, StackProps } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';

export interface RemediatorProps extends StackProps {
  /** Directory holding `ecs-retirement/bootstrap` and `eks-fargate-pod/bootstrap` (cargo lambda build output). */
  readonly assetsDir: string;
  /** Report without acting (default true: watch the reports first). */
  readonly dryRun?: boolean;
  /** EKS clusters whose Fargate pods may be restarted. */
  readonly eksClusterNames?: string[];
  /**
   * ECS clusters the ECS function may act in, by name (wildcards allowed, e.g. `prod-*`): services,
   * tasks, RunTask, ListTasks and cluster tags are allowed in these only. Default `['*']`: every
   * cluster of the account and Region, since a retirement may name any of them.
   */
  readonly ecsClusterNames?: string[];
  /**
   * IAM roles the ECS function may pass to ECS tasks when it relaunches a standalone task (its task
   * and execution roles), as what follows `role/` in the role ARN: a path pattern (`ecs-tasks/*`, the
   * default), a role name (`my-task-role`), `*` for every role; `[]` for none (standalone tasks with a
   * role are then not relaunched). Services and CodeDeploy deployments pass no role.
   */
  readonly passableTaskRoles?: string[];
  /** Act only on resources tagged/annotated retirement-remediator/enabled=true. */
  readonly optInOnly?: boolean;
  /** `DAYS HH:MM-HH:MM ZONE; …`: act only inside these windows, deferring to the next one before AWS's deadline. */
  readonly maintenanceWindows?: string;
  /** Margin kept before AWS's retirement time when choosing a window (default 24h). */
  readonly deadlineMargin?: string;
  /**
   * After acting, check that each resource was replaced (one-time Scheduler schedules `check-*`
   * through the scheduler role) until it is or AWS's deadline passes (default true). false: no
   * checks; waiting resources then rely on Lambda's two retries.
   */
  readonly followUpChecks?: boolean;
  /** The first follow-up check this long after acting, 1m to 24h (default 5m); each next one waits twice as long. */
  readonly followUpFirst?: string;
  /** The longest wait between two follow-up checks, 1m to 24h (default 60m). */
  readonly followUpMax?: string;
  /** ECS only: a deployment the remediator started that shows no progress this long fails rollout_stalled, 1m to 7d (default 30m). */
  readonly rolloutTimeout?: string;
  /**
   * ECS on EC2 only: besides draining a container instance that an EC2 scheduled event names, terminate a
   * drained instance AWS will retire or stop through its Auto Scaling group, which launches the
   * replacement (autoscaling:TerminateInstanceInAutoScalingGroup, granted only then, never on a group
   * tagged retirement-remediator/skip=true). Default false: drain only.
   */
  readonly replaceDrainedInstances?: boolean;
  /** SNS topic for one summary per handled event (Chatbot JSON, plain-text e-mail). */
  readonly notificationTopicArn?: string;
  /**
   * The KMS key (key ARN) `notificationTopicArn` is encrypted with, when a customer managed key: the
   * functions may then use it (kms:GenerateDataKey, kms:Decrypt) through SNS only.
   */
  readonly notificationTopicKmsKeyArn?: string;
  /** API calls in flight at once, 1 to 256 (default 8). */
  readonly maxConcurrency?: number;
  /** ECS only: client-side pacing of UpdateService, `PER_SECOND/BURST` (PER_SECOND at most 1000, BURST at most 60 × PER_SECOND) or `off` (default 3/30: a share of the account's 5/50 bucket). */
  readonly updateServiceRate?: string;
  /**
   * ECS only: client-side pacing of RunTask, StopTask and UpdateContainerInstancesState, `PER_SECOND/BURST` or `off`
   * (default 12/60: a share of the account's cluster-resource-modify bucket, 100 burst, 40/s; RunTask on Fargate 20/s).
   */
  readonly clusterResourceRate?: string;
  /** Attempts per AWS call by the SDK's standard retry mode, 1 to 20 (default 5). */
  readonly sdkMaxAttempts?: number;
  /** Further backoff rounds when a call still ends throttled or failed transiently, 0 to 50 (default 6). */
  readonly backoffRounds?: number;
  /** No call is started this close to the Lambda deadline, 0 to 600 seconds (default 10). */
  readonly deadlineMarginSeconds?: number;
  /**
   * SNS topic every alarm notifies (ALARM and OK). Unset or empty creates one (output AlarmTopicArn).
   * An encrypted topic of your own must let cloudwatch.amazonaws.com use its key.
   */
  readonly alarmTopicArn?: string;
  /** CloudWatch namespace of the EMF outcome metrics (default RetirementRemediator). */
  readonly metricsNamespace?: string;
  /**
   * Invocations of each function at once (default 10, reserved concurrency). Safe at any value: the ledger's
   * conditional claims let one act per resource, and the ECS modify calls of every environment take from one
   * budget per account and Region in the ledger table (updateServiceRate is the share of all of them together).
   */
  readonly functionConcurrency?: number;
  /** How long ledger entries are kept after AWS's retirement deadline, e.g. 30d, 90d (default 90d). */
  readonly ledgerRetention?: string;
  /**
   * How often the ECS function runs the preflight (read only: what a retirement would hurt today) and
   * sends one summary to notificationTopicArn, with EMF metrics of the findings by risk: an EventBridge
   * Scheduler expression, `rate(...)` or `cron(...)` in UTC (default `rate(7 days)`); `off`: none.
   */
  readonly preflightSchedule?: string;
  /**
   * Central mode (many accounts): the name of the role `infra/sam/member.yaml` creates in each member
   * account (its default: `retirement-remediator-member`). Both functions then handle a notice whose
   * affected account is another account of the organization by assuming
   * `arn:PARTITION:iam::ACCOUNT:role/NAME` there: `sts:AssumeRole` on that role name only, in accounts
   * of this account's organization only. The EKS function signs its cluster token with that role,
   * which needs an EKS access entry in the member's clusters. Unset or empty: this account only.
   * This is the ECS function's member role; the EKS function assumes its own (`eksMemberRoleName`).
   */
  readonly memberRoleName?: string;
  /**
   * Central mode: the EKS function's own member role (`infra/sam/member.yaml` parameter
   * EksMemberRoleName), holding `eks:DescribeCluster` on the member's clusters only. Unset or empty:
   * `memberRoleName` followed by `-eks`, or central mode off for the EKS function without `memberRoleName`.
   */
  readonly eksMemberRoleName?: string;
  /**
   * `health-api` (recommended in central mode): before acting, the ECS function asks AWS Health that the
   * notice exists, has its type and lists each resource (health:DescribeEventDetails,
   * DescribeAffectedEntities and their ForOrganization forms, granted then only; needs a Business,
   * Enterprise On-Ramp or Enterprise support plan). Default `off`.
   */
  readonly confirmNotices?: 'off' | 'health-api';
  /**
   * `on` (central mode, with `memberRoleName`): the scheduled preflight reads every ACTIVE account of
   * the organization (`organizations:ListAccounts`, granted then only; this account must be the
   * management account or a delegated administrator), narrowed by accountsInclude and accountsExclude.
   * Default `off`: this account and accountsInclude.
   */
  readonly organizationAccounts?: 'off' | 'on';
  /** Act only on resources of these accounts (12-digit ids); unset or `[]`: every account. */
  readonly accountsInclude?: string[];
  /** Never act on resources of these accounts (12-digit ids). */
  readonly accountsExclude?: string[];
  /**
   * Forwarding mode (many accounts): this account's organization (`o-...`). The default event bus then
   * accepts the two retirement events that member accounts' rules (`infra/sam/member.yaml`) forward,
   * from principals of this organization only. Unset: no bus policy.
   */
  readonly organizationId?: string;
}

export const ECS_PATTERN: events.EventPattern = {
  source: ['aws.health'],
  detailType: ['AWS Health Event'],
  detail: { service: ['ECS'], eventTypeCode: ['AWS_ECS_TASK_PATCHING_RETIREMENT'] },
};

/** ECS on EC2: the EC2 scheduled events of container instances' EC2 instances (a rule of its own, so that
 * ECS_PATTERN stays exact). Every status: an upcoming notice drains, a closed reboot notice reactivates. */
export const EC2_PATTERN: events.EventPattern = {
  source: ['aws.health'],
  detailType: ['AWS Health Event'],
  detail: {
    service: ['EC2'],
    eventTypeCode: [
      'AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED',
      'AWS_EC2_PERSISTENT_INSTANCE_RETIREMENT_SCHEDULED',
      'AWS_EC2_INSTANCE_STOP_SCHEDULED',
      'AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED',
      'AWS_EC2_SYSTEM_REBOOT_MAINTENANCE_SCHEDULED',
    ],
  },
};

export const EKS_PATTERN: events.EventPattern = {
  source: ['aws.eks'],
  detailType: ['EKS Fargate Pod Scheduled Termination'],
};

/** The patterns the SAM template's parameters allow, checked at synth (the same values deploy). */
const MEMBER_ROLE_NAME = /^[a-zA-Z0-9+=,.@_-]{1,64}$/;
const ACCOUNT_ID = /^[0-9]{12}$/;
const ORGANIZATION_ID = /^o-[a-z0-9]{10,32}$/;

export class RemediatorStack extends Stack {
  constructor(scope: Construct, id: string, props: RemediatorProps) {
    super(scope, id, props);
    const dryRun = String(props.dryRun ?? true);
    const memberRoleName = props.memberRoleName ?? '';
    if (memberRoleName && !MEMBER_ROLE_NAME.test(memberRoleName)) {
      throw new Error(`memberRoleName ${memberRoleName}: an IAM role name (letters, digits, +=,.@_-, up to 64)`);
    }
    if (props.eksMemberRoleName && !MEMBER_ROLE_NAME.test(props.eksMemberRoleName)) {
      throw new Error(`eksMemberRoleName ${props.eksMemberRoleName}: an IAM role name (letters, digits, +=,.@_-, up to 64)`);
    }
    // The EKS function's own member role: named, or derived from the ECS one's name (as the SAM template).
    const eksMemberRoleName = props.eksMemberRoleName || (memberRoleName ? `${memberRoleName}-eks` : '');
    const confirmNotices = props.confirmNotices ?? 'off';
    if (!['off', 'health-api'].includes(confirmNotices)) throw new Error(`confirmNotices ${confirmNotices}: off or health-api`);
    const organizationAccounts = props.organizationAccounts ?? 'off';
    if (!['off', 'on'].includes(organizationAccounts)) throw new Error(`organizationAccounts ${organizationAccounts}: off or on`);
    if (organizationAccounts === 'on' && !memberRoleName) {
      throw new Error("organizationAccounts=on reads the organization's accounts through the member role; set memberRoleName");
    }
    const accounts = (name: string, ids: string[] | undefined) => {
      for (const a of ids ?? []) if (!ACCOUNT_ID.test(a)) throw new Error(`${name}: ${a} is not a 12-digit account id`);
      return (ids ?? []).join(',');
    };
    const accountsInclude = accounts('accountsInclude', props.accountsInclude);
    const accountsExclude = accounts('accountsExclude', props.accountsExclude);
    if (props.organizationId && !ORGANIZATION_ID.test(props.organizationId)) {
      throw new Error(`organizationId ${props.organizationId}: an organization id, o-...`);
    }
    const namespace = props.metricsNamespace ?? 'RetirementRemediator';

    // Where the alarms go: the given topic, or a created one. Encrypted with a key of its own, not
    // the AWS-managed aws/sns key: CloudWatch can publish to an encrypted topic only when the key
    // policy lets cloudwatch.amazonaws.com use the key, and aws/sns's policy cannot be changed.
    let alarmTopic: sns.ITopic;
    if (props.alarmTopicArn) {
      alarmTopic = sns.Topic.fromTopicArn(this, 'GivenAlarmTopic', props.alarmTopicArn);
    } else {
      const fromCloudWatchAlarms = { StringEquals: { 'aws:SourceAccount': this.account } };
      const key = new kms.Key(this, 'AlarmTopicKey', {
        description: "Encrypts the remediator's alarm topic; CloudWatch alarms may use it to publish.",
        enableKeyRotation: true,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      key.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'CloudWatchAlarmsPublish',
          principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
          actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          resources: ['*'],
          conditions: fromCloudWatchAlarms,
        }),
      );
      const topic = new sns.Topic(this, 'AlarmTopic', { masterKey: key, enforceSSL: true });
      topic.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'CloudWatchAlarmsPublish',
          principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
          actions: ['sns:Publish'],
          resources: [topic.topicArn],
          conditions: fromCloudWatchAlarms,
        }),
      );
      alarmTopic = topic;
    }
    const notify = (alarm: cloudwatch.Alarm) => {
      const action = new cloudwatchActions.SnsAction(alarmTopic);
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
      return alarm;
    };

    const deadLetters = new sqs.Queue(this, 'DeadLetterQueue', {
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    NagSuppressions.addResourceSuppressions(deadLetters, [
      { id: 'AwsSolutions-SQS3', reason: 'This queue is the dead-letter queue of both functions.' },
    ]);

    // One-time schedules in this group invoke a function (the invoked ARN: SCHEDULE_TARGET_ARN stays
    // unset), then delete themselves: retirement-* re-runs a deferred event at the start of a
    // maintenance window; check-<digest>-<n> runs follow-up check n of a notice after acting.
    // No explicit name: CloudFormation makes one that fits Scheduler's 64 characters.
    const scheduleGroup = new scheduler.CfnScheduleGroup(this, 'ScheduleGroup', {});
    // One scheduler role per function, which may invoke that function only. Confused deputy
    // prevention: schedules of this account, in this stack's group only. EventBridge Scheduler's guide:
    // aws:SourceArn is the schedule group's ARN (not a schedule's, nor a schedule name prefix), a single
    // value: ArnEquals.
    const schedulerRoleFor = (label: string, what: string) => {
      const role = new iam.Role(this, `${label}SchedulerRole`, {
        description: `EventBridge Scheduler re-invokes ${what} for follow-up checks and at the start of a maintenance window.`,
        assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
          conditions: {
            StringEquals: { 'aws:SourceAccount': this.account },
            ArnEquals: { 'aws:SourceArn': `arn:${this.partition}:scheduler:${this.region}:${this.account}:schedule-group/${scheduleGroup.ref}` },
          },
        }),
      });
      // Undeliverable schedule invocations go to the dead-letter queue: SendMessage only (not
      // grantSendMessages, which adds GetQueueAttributes and GetQueueUrl).
      role.addToPolicy(new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [deadLetters.queueArn] }));
      return role;
    };

    // The ledger: per (notice, resource), what was done, so that a redelivered or retried event
    // answers settled resources from memory. Items carry `expires` (epoch seconds: AWS's deadline
    // plus the retention), which TTL deletes. `Table`, not `TableV2`: the same
    // AWS::DynamoDB::Table as the SAM template (and cdk-nag's PITR rule checks that type).
    // No explicit name; kept when the stack is deleted or the table replaced.
    const ledger = new dynamodb.Table(this, 'LedgerTable', {
      partitionKey: { name: 'notice', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'resource', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      timeToLiveAttribute: 'expires',
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // The same variables, with the same defaults, as the SAM template's Globals
    // (tests/infra/test_sam_cdk_parity.py compares the two).
    const controlsEnvironment: Record<string, string> = {
      DRY_RUN: dryRun,
      OPT_IN_ONLY: String(props.optInOnly ?? false),
      MAX_CONCURRENCY: String(props.maxConcurrency ?? 8),
      SDK_MAX_ATTEMPTS: String(props.sdkMaxAttempts ?? 5),
      BACKOFF_ROUNDS: String(props.backoffRounds ?? 6),
      DEADLINE_MARGIN_SECS: String(props.deadlineMarginSeconds ?? 10),
      MAINTENANCE_WINDOWS: props.maintenanceWindows ?? '',
      DEADLINE_MARGIN: props.deadlineMargin ?? '24h',
      SCHEDULE_GROUP: scheduleGroup.ref,
      SCHEDULE_DLQ_ARN: deadLetters.queueArn,
      FOLLOW_UP_CHECKS: props.followUpChecks === false ? 'off' : 'on',
      FOLLOW_UP_FIRST: props.followUpFirst ?? '5m',
      FOLLOW_UP_MAX: props.followUpMax ?? '60m',
      NOTIFICATION_TOPIC_ARN: props.notificationTopicArn ?? '',
      METRICS_NAMESPACE: namespace,
      LEDGER_TABLE: ledger.tableName,
      LEDGER_RETENTION: props.ledgerRetention ?? '90d',
      // The account filters, for both functions. Central mode (a notice of another account of the
      // organization is remediated there through a member role, infra/sam/member.yaml): each function
      // has its own member role, MEMBER_ROLE_NAME set per function.
      ACCOUNTS_INCLUDE: accountsInclude,
      ACCOUNTS_EXCLUDE: accountsExclude,
      // The preflight's member accounts from Organizations (the ECS function's scheduled preflight).
      ORGANIZATION_ACCOUNTS: organizationAccounts,
      AWS_LAMBDA_LOG_FORMAT: 'JSON',
    };

    const fn = (name: string, binary: string, label: string, what: string, environment: Record<string, string>) => {
      const schedulerRole = schedulerRoleFor(label, what);
      const logGroup = new logs.LogGroup(this, `${name}Logs`, { retention: logs.RetentionDays.ONE_MONTH });
      const f = new lambda.Function(this, name, {
        runtime: lambda.Runtime.PROVIDED_AL2023,
        architecture: lambda.Architecture.ARM_64,
        handler: 'bootstrap',
        code: lambda.Code.fromAsset(path.join(props.assetsDir, binary)),
        memorySize: 128,
        timeout: Duration.minutes(15),
        reservedConcurrentExecutions: props.functionConcurrency ?? 10,
        deadLetterQueue: deadLetters,
        retryAttempts: 2,
        maxEventAge: Duration.hours(6),
        loggingFormat: lambda.LoggingFormat.JSON,
        logGroup,
        environment: { ...controlsEnvironment, SCHEDULE_ROLE_ARN: schedulerRole.roleArn, ...environment },
      });
      // The preflight asks IAM's policy simulator whether this role may pass standalone tasks' roles.
      if (f.role) f.addEnvironment('FUNCTION_ROLE_ARN', f.role.roleArn);
      // One-time schedules in the group only (retirement-*: defer to a window; check-*: a
      // follow-up check), handing them its own scheduler role and nothing else.
      const schedules = `arn:${this.partition}:scheduler:${this.region}:${this.account}:schedule/${scheduleGroup.ref}`;
      f.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['scheduler:CreateSchedule'],
          resources: [`${schedules}/retirement-*`, `${schedules}/check-*`],
        }),
      );
      f.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['iam:PassRole'],
          resources: [schedulerRole.roleArn],
          conditions: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
        }),
      );
      // The ledger: read and record per (notice, resource), on this table only. Not
      // grantReadWriteData, which adds Query, Scan, DeleteItem, BatchWriteItem, ConditionCheckItem…;
      // `remediator status` queries with the operator's own credentials.
      f.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['dynamodb:BatchGetItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:PutItem'],
          resources: [ledger.tableArn],
        }),
      );
      if (props.notificationTopicArn) {
        f.addToRolePolicy(new iam.PolicyStatement({ actions: ['sns:Publish'], resources: [props.notificationTopicArn] }));
      }
      // Publishing to a topic encrypted with a customer managed key: SNS asks KMS for a data key
      // with the publisher's permissions. This key only, and only through SNS.
      if (props.notificationTopicKmsKeyArn) {
        f.addToRolePolicy(
          new iam.PolicyStatement({
            actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
            resources: [props.notificationTopicKmsKeyArn],
            conditions: { StringEquals: { 'kms:ViaService': `sns.${this.region}.${this.urlSuffix}` } },
          }),
        );
      }
      schedulerRole.addToPolicy(
        new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [f.functionArn, `${f.functionArn}:*`] }),
      );
      notify(
        new cloudwatch.Alarm(this, `${name}Errors`, {
          alarmDescription: `${binary} failed invocations (retryable outcomes or rejected input).`,
          metric: f.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
          threshold: 0,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
      // Final failures end as a successful invocation: only the EMF metric (dimension Function =
      // the binary's logical name, not the Lambda name) shows them. Never fires when the namespace is off.
      notify(
        new cloudwatch.Alarm(this, `${name}FailedOutcomes`, {
          alarmDescription:
            `A resource handled by ${binary} ended failed (EMF metric Outcomes, Result=failed). Look at ` +
            "`remediator status` and at the function's log lines with status=failed. Only final failures " +
            'count here: waiting ones are Result=retrying (follow-up checks retry them) and answers from ' +
            "the ledger's memory Result=remembered; final ones (AccessDenied, no_deployment_group, " +
            'replacement_failed, no_room_to_replace, ...) ' +
            'need a person. Never fires when the metrics namespace is off (no metrics are emitted).',
          metric: new cloudwatch.Metric({
            namespace,
            metricName: 'Outcomes',
            dimensionsMap: { Function: binary, Result: 'failed' },
            statistic: 'Sum',
            period: Duration.minutes(5),
          }),
          threshold: 0,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
      // Follow-up checks end a resource AWS will retire that was never seen replaced as
      // unverified_by_deadline: its own EMF metric, for this alarm.
      notify(
        new cloudwatch.Alarm(this, `${name}Unverified`, {
          alarmDescription:
            `A resource handled by ${binary} that AWS will retire was not seen replaced by AWS's deadline ` +
            '(EMF metric Unverified). The remediator acted, but its follow-up checks never saw the ' +
            "replacement finish. Check the resource now (`remediator status`, the function's log lines with " +
            'code unverified_by_deadline): AWS stops whatever still runs on the retiring host. Never fires ' +
            'when the metrics namespace is off (no metrics are emitted).',
          metric: new cloudwatch.Metric({
            namespace,
            metricName: 'Unverified',
            dimensionsMap: { Function: binary },
            statistic: 'Sum',
            period: Duration.minutes(5),
          }),
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
      return [f, schedulerRole] as const;
    };

    const arn = (service: string, resource: string) =>
      `arn:${this.partition}:${service}:${this.region}:${this.account}:${resource}`;

    // The function's own bounds on a rate (crates/lambda/src/config.rs), checked at synthesis
    // rather than when the deployed function starts.
    for (const [name, rate] of [['updateServiceRate', props.updateServiceRate], ['clusterResourceRate', props.clusterResourceRate]] as const) {
      const m = rate === undefined || rate === 'off' ? null : /^([0-9]+)\/([0-9]+)$/.exec(rate);
      if (rate !== undefined && rate !== 'off' && !(m && +m[1] >= 1 && +m[1] <= 1000 && +m[2] >= 1 && +m[2] <= 60 * +m[1])) {
        throw new Error(`${name}: PER_SECOND/BURST (PER_SECOND 1 to 1000, BURST 1 to 60 × PER_SECOND) or off, not ${rate}`);
      }
    }
    const ecsClusters = props.ecsClusterNames ?? ['*'];
    if (ecsClusters.length === 0) throw new Error("ecsClusterNames: name at least one cluster ('*' for every cluster)");
    const taskRoles = props.passableTaskRoles ?? ['ecs-tasks/*'];
    const [ecs, ecsSchedulerRole] = fn('EcsRetirementFunction', 'ecs-retirement', 'Ecs', 'the ECS function', {
      UPDATE_SERVICE_RATE: props.updateServiceRate ?? '3/30',
      CLUSTER_RESOURCE_RATE: props.clusterResourceRate ?? '12/60',
      ROLLOUT_TIMEOUT: props.rolloutTimeout ?? '30m',
      REPLACE_DRAINED_INSTANCES: String(props.replaceDrainedInstances ?? false),
      MEMBER_ROLE_NAME: memberRoleName,
      CONFIRM_NOTICES: confirmNotices,
      // The preflight reads the clusters it may act in and checks standalone tasks' roles against
      // the roles it may pass ('none', as the SAM template's PassableTaskRoles, for no role).
      ECS_CLUSTER_NAMES: ecsClusters.join(','),
      PASSABLE_TASK_ROLES: taskRoles.length > 0 ? taskRoles.join(',') : 'none',
    });
    // The scheduled preflight: the ECS function through its own scheduler role, in the stack's group.
    const preflightSchedule = props.preflightSchedule ?? 'rate(7 days)';
    if (!/^(off|rate\(.+\)|cron\(.+\))$/.test(preflightSchedule)) {
      throw new Error(`preflightSchedule: rate(...), cron(...) or off, not ${preflightSchedule}`);
    }
    if (preflightSchedule !== 'off') {
      // The scheduled preflight asks IAM's policy simulator whether the function's role may pass the
      // standalone tasks' roles (read only; on that role alone: it reveals no other's policies).
      if (ecs.role) {
        ecs.addToRolePolicy(new iam.PolicyStatement({ actions: ['iam:SimulatePrincipalPolicy'], resources: [ecs.role.roleArn] }));
      }
      new scheduler.CfnSchedule(this, 'PreflightScheduleEntry', {
        description: "The retirement remediator's preflight, read only; one summary to the notification topic.",
        groupName: scheduleGroup.ref,
        scheduleExpression: preflightSchedule,
        flexibleTimeWindow: { mode: 'FLEXIBLE', maximumWindowInMinutes: 60 },
        target: {
          arn: ecs.functionArn,
          roleArn: ecsSchedulerRole.roleArn,
          input: '{"retirement-remediator": "preflight"}',
          retryPolicy: { maximumRetryAttempts: 2 },
          deadLetterConfig: { arn: deadLetters.queueArn },
        },
      });
      notify(
        new cloudwatch.Alarm(this, 'PreflightHighFindings', {
          alarmDescription:
            'The scheduled preflight found something that would make a retirement an outage or leave ' +
            'the remediator unable to act (EMF metric Findings, Severity=high): a service with no task ' +
            "left at retirement, no room to replace, a member account it cannot read, ... Run " +
            '`remediator preflight` for each finding and its fix; the summary also goes to the ' +
            'notification topic when one is set. Never fires when the metrics namespace is off (no metrics ' +
            'are emitted).',
          metric: new cloudwatch.Metric({
            namespace,
            metricName: 'Findings',
            dimensionsMap: { Function: 'ecs-retirement', Severity: 'high' },
            statistic: 'Maximum',
            period: Duration.minutes(5),
          }),
          threshold: 0,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
    }
    const allow = (actions: string[], resources: string[], conditions?: Record<string, unknown>) =>
      ecs.addToRolePolicy(new iam.PolicyStatement({ actions, resources, conditions }));
    // ECS, in the clusters of ecsClusterNames only: by the cluster in the resource's ARN (services,
    // tasks, clusters) or, where the resource does not name one, by the ecs:cluster condition key
    // (RunTask, ListTasks). tests/infra/iam_reference.json lists the resource types and condition
    // keys the Service Authorization Reference documents.
    const inClusters = { ArnLike: { 'ecs:cluster': ecsClusters.map((c) => arn('ecs', `cluster/${c}`)) } };
    // DescribeServiceDeployments (follow-up checks: a deployment's status, lifecycle stage and hooks)
    // requires both its resource types: the service (with DescribeServices) and the service deployment.
    allow(
      ['ecs:DescribeServices', 'ecs:DescribeServiceDeployments', 'ecs:UpdateService'],
      ecsClusters.map((c) => arn('ecs', `service/${c}/*`)),
    );
    allow(['ecs:DescribeServiceDeployments'], ecsClusters.map((c) => arn('ecs', `service-deployment/${c}/*/*`)));
    allow(['ecs:DescribeTasks', 'ecs:StopTask'], ecsClusters.map((c) => arn('ecs', `task/${c}/*`)));
    // RunTask's resource is the task definition; the cluster is a condition key.
    allow(['ecs:RunTask'], [arn('ecs', 'task-definition/*:*')], inClusters);
    allow(
      ['ecs:TagResource'],
      ecsClusters.map((c) => arn('ecs', `task/${c}/*`)),
      { StringEquals: { 'ecs:CreateAction': 'RunTask' } },
    );
    // ListTasks' documented resource is a container instance, which Fargate tasks do not have:
    // "*" limited by the ecs:cluster condition, as the ECS developer guide's example.
    // ListServices (the preflight) has no resource type, only the ecs:cluster condition.
    allow(['ecs:ListTasks', 'ecs:ListServices'], ['*'], inClusters);
    // The cluster's tags (opt-in/opt-out) and, for ECS on EC2, its container instances.
    allow(['ecs:DescribeClusters', 'ecs:ListContainerInstances'], ecsClusters.map((c) => arn('ecs', `cluster/${c}`)));
    // ECS on EC2: drain (and reactivate) a container instance AWS will retire, stop or reboot, marking it
    // with the attribute retirement-remediator/drained while it is drained by the function.
    allow(
      ['ecs:DescribeContainerInstances', 'ecs:UpdateContainerInstancesState', 'ecs:PutAttributes', 'ecs:DeleteAttributes'],
      ecsClusters.map((c) => arn('ecs', `container-instance/${c}/*`)),
    );
    // Whether a cluster's capacity providers scale its Auto Scaling groups (managed scaling).
    allow(['ecs:DescribeCapacityProviders'], [arn('ecs', 'capacity-provider/*')]);
    // These actions have no resource-level permissions. EC2 and Auto Scaling: the container instances'
    // EC2 instances (tags, state, Auto Scaling group) and the Region's instance event windows.
    allow(
      [
        'ecs:ListClusters',
        'ecs:DescribeTaskDefinition',
        'ecs:ListAccountSettings',
        'ec2:DescribeNetworkInterfaces',
        'ec2:DescribeInstances',
        'ec2:DescribeInstanceEventWindows',
        'ec2:DescribeInstanceStatus',
        'autoscaling:DescribeAutoScalingInstances',
      ],
      ['*'],
    );
    // replaceDrainedInstances only: terminate a drained container instance AWS will retire or stop through
    // its Auto Scaling group (any group of the account: the instance's group is not known in advance),
    // except one tagged retirement-remediator/skip=true.
    if (props.replaceDrainedInstances) {
      allow(
        ['autoscaling:TerminateInstanceInAutoScalingGroup'],
        [arn('autoscaling', 'autoScalingGroup:*:autoScalingGroupName/*')],
        { StringNotEquals: { 'autoscaling:ResourceTag/retirement-remediator/skip': 'true' } },
      );
    }
    // Relaunching a standalone task passes its task and execution roles: only those of
    // passableTaskRoles, and only to ECS tasks.
    if (taskRoles.length > 0) {
      allow(
        ['iam:PassRole'],
        taskRoles.map((r) => `arn:${this.partition}:iam::${this.account}:role/${r}`),
        { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
      );
    }
    allow(
      [
        'codedeploy:CreateDeployment',
        'codedeploy:GetDeployment',
        'codedeploy:GetDeploymentGroup',
        'codedeploy:ListDeployments',
        'codedeploy:BatchGetDeployments',
      ],
      [arn('codedeploy', 'deploymentgroup:*/*')],
    );
    allow(
      ['codedeploy:ListDeploymentGroups', 'codedeploy:GetApplicationRevision', 'codedeploy:RegisterApplicationRevision'],
      [arn('codedeploy', 'application:*')],
    );
    allow(['codedeploy:GetDeploymentConfig'], [arn('codedeploy', 'deploymentconfig:*')]);
    // ListApplications has no resource-level permissions.
    allow(['codedeploy:ListApplications'], ['*']);
    // confirmNotices=health-api: the notice exists, has its type and names each resource. On the ECS
    // and EC2 events only (the Service Authorization Reference's event resource,
    // arn:${Partition}:health:*::event/${Service}/${EventTypeCode}/*); the ForOrganization forms (a
    // member account's notice, organizational view) have no resource-level permissions.
    if (confirmNotices === 'health-api') {
      allow(
        ['health:DescribeEventDetails', 'health:DescribeAffectedEntities'],
        ['ECS', 'EC2'].map((service) => `arn:${this.partition}:health:*::event/${service}/*/*`),
      );
      allow(['health:DescribeEventDetailsForOrganization', 'health:DescribeAffectedEntitiesForOrganization'], ['*']);
    }
    // organizationAccounts=on: the scheduled preflight reads every active account of the organization.
    // ListAccounts has no resource-level permissions.
    if (organizationAccounts === 'on' && preflightSchedule !== 'off') {
      allow(['organizations:ListAccounts'], ['*']);
    }
    // Central mode: the function's own member role (infra/sam/member.yaml) of any account, by its name
    // only, and only in an account of this account's own organization. The ECS member role grants the
    // ECS, CodeDeploy, EC2, Auto Scaling and iam:PassRole statements above, in its account; the EKS
    // member role eks:DescribeCluster on the member's clusters only.
    const assumeMemberRole = (f: lambda.Function, roleName: string) => {
      if (!roleName) return;
      f.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['sts:AssumeRole'],
          resources: [`arn:${this.partition}:iam::*:role/${roleName}`],
          conditions: { StringEquals: { 'aws:ResourceOrgID': '${aws:PrincipalOrgID}' } },
        }),
      );
    };
    assumeMemberRole(ecs, memberRoleName);

    const [eks] = fn('EksFargatePodFunction', 'eks-fargate-pod', 'Eks', 'the EKS function', { MEMBER_ROLE_NAME: eksMemberRoleName });
    const clusters = props.eksClusterNames ?? [];
    eks.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['eks:DescribeCluster'],
        resources: clusters.length > 0 ? clusters.map((c) => arn('eks', `cluster/${c}`)) : [arn('eks', 'cluster/none-configured')],
      }),
    );
    // Central mode, the same way, on the EKS member role: it grants eks:DescribeCluster on the member's
    // EksClusterNames; its EKS access entry what infra/kubernetes/rbac.yaml allows.
    assumeMemberRole(eks, eksMemberRoleName);

    // Forwarding mode: member accounts' rules (infra/sam/member.yaml) send the two retirement events
    // to this account's default bus, where the rules below take them. Only principals of the
    // organization (the members' forwarding roles), and only AWS's own events of the two sources
    // (PutEvents cannot put an aws.* source: only rules forward those).
    // (A plain CfnResource: events.CfnEventBusPolicy makes every synth warn about its deprecated
    // Action/Principal/Condition properties, which this policy does not use.)
    if (props.organizationId) {
      new CfnResource(this, 'CentralBusPolicy', {
        type: 'AWS::Events::EventBusPolicy',
        properties: {
          EventBusName: 'default',
          StatementId: 'retirement-remediator-organization',
          Statement: {
            Effect: 'Allow',
            Principal: '*',
            Action: 'events:PutEvents',
            Resource: `arn:${this.partition}:events:${this.region}:${this.account}:event-bus/default`,
            // StringEquals, not ForAllValues:StringEquals: each PutEvents entry carries one source and
            // one detail-type (single-valued keys), and ForAllValues is true when the key is absent
            // from the request. StringEquals with a list matches any one of its values.
            Condition: {
              StringEquals: {
                'aws:PrincipalOrgID': props.organizationId,
                'events:source': [ECS_PATTERN.source![0], EKS_PATTERN.source![0]],
                'events:detail-type': [ECS_PATTERN.detailType![0], EKS_PATTERN.detailType![0]],
              },
            },
          },
        },
      });
      new CfnOutput(this, 'CentralEventBusArn', {
        description: 'The bus member accounts forward retirement events to (infra/sam/member.yaml parameter CentralEventBusArn).',
        value: `arn:${this.partition}:events:${this.region}:${this.account}:event-bus/default`,
      });
    }

    new events.Rule(this, 'EcsRetirementRule', {
      eventPattern: ECS_PATTERN,
      targets: [new targets.LambdaFunction(ecs, { deadLetterQueue: deadLetters, retryAttempts: 4 })],
    });
    new events.Rule(this, 'EcsEc2ScheduledEventsRule', {
      eventPattern: EC2_PATTERN,
      targets: [new targets.LambdaFunction(ecs, { deadLetterQueue: deadLetters, retryAttempts: 4 })],
    });
    new events.Rule(this, 'EksFargatePodRule', {
      eventPattern: EKS_PATTERN,
      targets: [new targets.LambdaFunction(eks, { deadLetterQueue: deadLetters, retryAttempts: 4 })],
    });

    notify(
      new cloudwatch.Alarm(this, 'DeadLettersWaiting', {
        alarmDescription: 'Events the remediator could not handle are waiting in the dead-letter queue.',
        metric: deadLetters.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
        threshold: 0,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );

    const search = (dims: string, metric: string, stat: string, period: number) =>
      new cloudwatch.MathExpression({
        expression: `SEARCH('{${namespace},${dims}} MetricName="${metric}"', '${stat}', ${period})`,
        usingMetrics: {},
        period: Duration.seconds(period),
      });
    new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `${this.stackName}-retirements`,
      widgets: [
        [
          new cloudwatch.GraphWidget({ title: 'Outcomes by result', left: [search('Function,Result', 'Outcomes', 'Sum', 3600)], stacked: true, width: 12 }),
          new cloudwatch.GraphWidget({
            title: 'Outcomes by action and result',
            left: [search('Function,Action,Result', 'Outcomes', 'Sum', 86400)],
            view: cloudwatch.GraphWidgetView.BAR,
            width: 12,
          }),
        ],
        [
          new cloudwatch.GraphWidget({ title: 'Time to remediate (s, notice to action)', left: [search('Function,Action', 'TimeToRemediate', 'Maximum', 3600)], width: 12 }),
          new cloudwatch.GraphWidget({
            title: 'Headroom before AWS retires (s, minimum)',
            left: [search('Function,Action', 'HeadroomBeforeRetirement', 'Minimum', 3600)],
            width: 12,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Dead letters and failed invocations',
            left: [deadLetters.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum' })],
            right: [ecs.metricErrors({ statistic: 'Sum' }), eks.metricErrors({ statistic: 'Sum' })],
            width: 12,
          }),
          new cloudwatch.LogQueryWidget({
            title: 'Latest outcomes',
            logGroupNames: [ecs.logGroup.logGroupName, eks.logGroup.logGroupName],
            view: cloudwatch.LogQueryVisualizationType.TABLE,
            queryLines: [
              'fields @timestamp, fields.resource, fields.status, fields.code, fields.message',
              'filter ispresent(fields.status)',
              'sort @timestamp desc',
              'limit 100',
            ],
            width: 12,
          }),
        ],
      ],
    });

    new CfnOutput(this, 'AlarmTopicArn', {
      description: 'The SNS topic the alarms notify (created unless alarmTopicArn names one).',
      value: alarmTopic.topicArn,
    });
    new CfnOutput(this, 'CentralFunctionRoleArn', {
      description: "The ECS function's role, which member accounts' ECS member role trusts (infra/sam/member.yaml parameter CentralFunctionRoleArn).",
      value: ecs.role!.roleArn,
    });
    new CfnOutput(this, 'CentralEksFunctionRoleArn', {
      description: "The EKS function's role, which member accounts' EKS member role trusts (infra/sam/member.yaml parameter CentralEksFunctionRoleArn).",
      value: eks.role!.roleArn,
    });
    new CfnOutput(this, 'LedgerTableName', {
      description: "The ledger, what was done per (notice, resource); `remediator status` reads it with the operator's credentials.",
      value: ledger.tableName,
    });

    NagSuppressions.addStackSuppressions(this, [
      {
        id: 'AwsSolutions-IAM4',
        reason: 'AWSLambdaBasicExecutionRole only grants writing the functions\' own logs.',
        appliesTo: ['Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole'],
      },
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'Resource wildcards only: the remediator acts on whichever services (and their service deployments), tasks, task definitions and deployment groups a retirement names (in the clusters of ecsClusterNames), and in central mode each function assumes its own member role (memberRoleName, eksMemberRoleName: one name each) in whichever account of its organization (aws:ResourceOrgID) a retirement names; with confirmNotices=health-api the ECS function reads AWS Health events of the ECS and EC2 services (event/ECS/*/*, event/EC2/*/*) and the ForOrganization forms, which have no resource-level permissions, on "*"; actions are listed one by one; actions without resource-level permissions (ListClusters, DescribeTaskDefinition, DescribeNetworkInterfaces, DescribeInstances, DescribeInstanceEventWindows, DescribeAutoScalingInstances, ListApplications, and with organizationAccounts=on organizations:ListAccounts) need "*", container instances are named by their cluster only (container-instance/CLUSTER/*), capacity providers and, with replaceDrainedInstances, Auto Scaling groups are whichever a container instance belongs to, and ListTasks gets "*" limited by the ecs:cluster condition (its documented resource, a container instance, does not exist for Fargate tasks). tests/infra/iam_reference.json checks each grant against the Service Authorization Reference.',
      },
    ]);
  }
}
