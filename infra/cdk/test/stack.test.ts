// The CDK stack: the same resources as the SAM template, checked with aws-cdk-lib/assertions,
// and clean under cdk-nag's AwsSolutions rules (with the explained suppressions only).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, Aspects } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { RemediatorProps, RemediatorStack } from '../lib/remediator-stack';

function stack(extra: Partial<RemediatorProps> = {}) {
  // Stand-in build output: synthesis only needs the asset directories to exist.
  const assets = fs.mkdtempSync(path.join(os.tmpdir(), 'remediator-assets-'));
  for (const bin of ['ecs-retirement', 'eks-fargate-pod']) {
    fs.mkdirSync(path.join(assets, bin));
    fs.writeFileSync(path.join(assets, bin, 'bootstrap'), 'stand-in');
  }
  const app = new App();
  const s = new RemediatorStack(app, 'Test', {
    assetsDir: assets,
    eksClusterNames: ['prod'],
    maintenanceWindows: 'Sat,Sun 02:00-05:00 Asia/Tokyo',
    notificationTopicArn: 'arn:aws:sns:us-east-1:123456789012:retirements',
    env: { account: '123456789012', region: 'us-east-1' },
    ...extra,
  });
  Aspects.of(app).add(new AwsSolutionsChecks());
  app.synth();
  return s;
}

const s = stack();
const template = Template.fromStack(s);

test('both functions run the Rust bootstrap on arm64 with a dead-letter queue and async retries', () => {
  template.resourceCountIs('AWS::Lambda::Function', 2);
  template.allResourcesProperties('AWS::Lambda::Function', {
    Runtime: 'provided.al2023',
    Architectures: ['arm64'],
    Handler: 'bootstrap',
    MemorySize: 128,
    Timeout: 900,
    ReservedConcurrentExecutions: 10,
    DeadLetterConfig: Match.objectLike({ TargetArn: Match.anyValue() }),
  });
  template.resourceCountIs('AWS::Lambda::EventInvokeConfig', 2);
  template.allResourcesProperties('AWS::Lambda::EventInvokeConfig', { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 21600 });
});

test('the rules match the ECS retirement, the EC2 scheduled events and the EKS pod termination exactly', () => {
  template.resourceCountIs('AWS::Events::Rule', 3);
  template.hasResourceProperties('AWS::Events::Rule', {
    EventPattern: {
      source: ['aws.health'],
      'detail-type': ['AWS Health Event'],
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
    },
  });
  template.hasResourceProperties('AWS::Events::Rule', {
    EventPattern: {
      source: ['aws.health'],
      'detail-type': ['AWS Health Event'],
      detail: { service: ['ECS'], eventTypeCode: ['AWS_ECS_TASK_PATCHING_RETIREMENT'] },
    },
  });
  template.hasResourceProperties('AWS::Events::Rule', {
    EventPattern: { source: ['aws.eks'], 'detail-type': ['EKS Fargate Pod Scheduled Termination'] },
  });
});

test('no IAM statement allows a wildcard action, and PassRole only goes to ECS tasks or the scheduler', () => {
  const passedTo: string[] = [];
  for (const policy of Object.values(template.findResources('AWS::IAM::Policy'))) {
    for (const statement of (policy as any).Properties.PolicyDocument.Statement) {
      const actions: string[] = Array.isArray(statement.Action) ? statement.Action : [statement.Action];
      for (const action of actions) assert.ok(!action.includes('*'), `wildcard action ${action}`);
      if (actions.includes('iam:PassRole')) {
        passedTo.push(statement.Condition.StringEquals['iam:PassedToService']);
      }
    }
  }
  assert.deepEqual(passedTo.sort(), ['ecs-tasks.amazonaws.com', 'scheduler.amazonaws.com', 'scheduler.amazonaws.com']);
});

test('both functions get the operator controls and may defer through the scheduler role', () => {
  template.allResourcesProperties('AWS::Lambda::Function', {
    Environment: {
      Variables: Match.objectLike({
        MAINTENANCE_WINDOWS: 'Sat,Sun 02:00-05:00 Asia/Tokyo',
        DEADLINE_MARGIN: '24h',
        SCHEDULE_ROLE_ARN: Match.anyValue(),
        SCHEDULE_GROUP: Match.anyValue(),
        FOLLOW_UP_CHECKS: 'on',
        FOLLOW_UP_FIRST: '5m',
        FOLLOW_UP_MAX: '60m',
        NOTIFICATION_TOPIC_ARN: 'arn:aws:sns:us-east-1:123456789012:retirements',
        METRICS_NAMESPACE: 'RetirementRemediator',
      }),
    },
  });
  template.resourceCountIs('AWS::Scheduler::ScheduleGroup', 1);
  template.hasResourceProperties('AWS::IAM::Role', {
    AssumeRolePolicyDocument: {
      Statement: [Match.objectLike({ Principal: { Service: 'scheduler.amazonaws.com' } })],
    },
  });
  template.hasResourceProperties('AWS::IAM::Policy', {
    PolicyDocument: {
      Statement: Match.arrayWith([Match.objectLike({ Action: 'sns:Publish', Resource: 'arn:aws:sns:us-east-1:123456789012:retirements' })]),
    },
  });
  template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
});

/** The statements of every AWS::IAM::Policy of `t` that grant `action`. */
function granting(t: Template, action: string): any[] {
  return (Object.values(t.findResources('AWS::IAM::Policy')) as any[])
    .flatMap((p) => p.Properties.PolicyDocument.Statement)
    .filter((st: any) => [st.Action].flat().includes(action));
}

test('eks:DescribeCluster is allowed on the configured clusters only, by exact ARN', () => {
  const arnOf = (cluster: string) => ({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:eks:us-east-1:123456789012:cluster/${cluster}`]] });
  assert.deepEqual(
    granting(template, 'eks:DescribeCluster').map((st) => st.Resource),
    [arnOf('prod')],
  );
  assert.deepEqual(
    granting(Template.fromStack(stack({ eksClusterNames: ['prod', 'batch'] })), 'eks:DescribeCluster').map((st) => st.Resource),
    [[arnOf('prod'), arnOf('batch')]],
  );
  assert.deepEqual(
    granting(Template.fromStack(stack({ eksClusterNames: [] })), 'eks:DescribeCluster').map((st) => st.Resource),
    [arnOf('none-configured')],
  );
});

test('iam:PassRole to ECS tasks covers passableTaskRoles only (default: the /ecs-tasks/ path), never every role', () => {
  const roleArn = (role: string) => ({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:iam::123456789012:role/${role}`]] });
  const toTasks = (t: Template) =>
    granting(t, 'iam:PassRole').filter((st) => st.Condition.StringEquals['iam:PassedToService'] === 'ecs-tasks.amazonaws.com');
  assert.deepEqual(toTasks(template).map((st) => st.Resource), [roleArn('ecs-tasks/*')]);
  assert.deepEqual(
    toTasks(Template.fromStack(stack({ passableTaskRoles: ['app/web', 'batch-task'] }))).map((st) => st.Resource),
    [[roleArn('app/web'), roleArn('batch-task')]],
  );
  assert.deepEqual(toTasks(Template.fromStack(stack({ passableTaskRoles: [] }))), []);
});

test('ECS actions stay in ecsClusterNames: by the ARN, or by ecs:cluster for RunTask and ListTasks', () => {
  const t = Template.fromStack(stack({ ecsClusterNames: ['prod'] }));
  const ecsArn = (resource: string) => ({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:ecs:us-east-1:123456789012:${resource}`]] });
  const inProd = { ArnLike: { 'ecs:cluster': [ecsArn('cluster/prod')] } };
  assert.deepEqual(granting(t, 'ecs:UpdateService').map((st) => st.Resource), [ecsArn('service/prod/*')]);
  // Both of DescribeServiceDeployments' required resource types, and nothing acting on a deployment.
  assert.deepEqual(granting(t, 'ecs:DescribeServiceDeployments').map((st) => st.Resource), [
    ecsArn('service/prod/*'),
    ecsArn('service-deployment/prod/*/*'),
  ]);
  for (const action of ['ecs:ContinueServiceDeployment', 'ecs:StopServiceDeployment']) {
    assert.deepEqual(granting(t, action), [], action);
  }
  assert.deepEqual(granting(t, 'ecs:StopTask').map((st) => st.Resource), [ecsArn('task/prod/*')]);
  assert.deepEqual(granting(t, 'ecs:DescribeClusters').map((st) => st.Resource), [ecsArn('cluster/prod')]);
  assert.deepEqual(granting(t, 'ecs:RunTask').map((st) => st.Condition), [inProd]);
  assert.deepEqual(granting(t, 'ecs:ListTasks').map((st) => [st.Resource, st.Condition]), [['*', inProd]]);
  assert.deepEqual(granting(t, 'ecs:ListContainerInstances').map((st) => st.Resource), [ecsArn('cluster/prod')]);
  for (const action of ['ecs:DescribeContainerInstances', 'ecs:UpdateContainerInstancesState', 'ecs:PutAttributes', 'ecs:DeleteAttributes']) {
    assert.deepEqual(granting(t, action).map((st) => [st.Resource, st.Condition]), [[ecsArn('container-instance/prod/*'), undefined]], action);
  }
});

test('replaceDrainedInstances: REPLACE_DRAINED_INSTANCES on the ECS function, and TerminateInstanceInAutoScalingGroup only when true', () => {
  const fns = functionsByBinary(template);
  assert.equal(fns['ecs-retirement'][1].Properties.Environment.Variables.REPLACE_DRAINED_INSTANCES, 'false');
  assert.equal(fns['eks-fargate-pod'][1].Properties.Environment.Variables.REPLACE_DRAINED_INSTANCES, undefined);
  assert.deepEqual(granting(template, 'autoscaling:TerminateInstanceInAutoScalingGroup'), []);
  const t = Template.fromStack(stack({ replaceDrainedInstances: true }));
  assert.equal(functionsByBinary(t)['ecs-retirement'][1].Properties.Environment.Variables.REPLACE_DRAINED_INSTANCES, 'true');
  assert.deepEqual(granting(t, 'autoscaling:TerminateInstanceInAutoScalingGroup'), [
    {
      Action: 'autoscaling:TerminateInstanceInAutoScalingGroup',
      Effect: 'Allow',
      Resource: {
        'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':autoscaling:us-east-1:123456789012:autoScalingGroup:*:autoScalingGroupName/*']],
      },
      Condition: { StringNotEquals: { 'autoscaling:ResourceTag/retirement-remediator/skip': 'true' } },
    },
  ]);
});

test('notificationTopicKmsKeyArn lets the functions use that key through SNS only; unset, no KMS at all', () => {
  assert.deepEqual([...granting(template, 'kms:GenerateDataKey'), ...granting(template, 'kms:Decrypt')], []);
  const key = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
  const statements = granting(Template.fromStack(stack({ notificationTopicKmsKeyArn: key })), 'kms:Decrypt');
  assert.equal(statements.length, 2, 'one per function');
  for (const st of statements) {
    assert.deepEqual(st, {
      Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
      Effect: 'Allow',
      Resource: key,
      // The partition's own suffix (amazonaws.com.cn in China): never a hard-coded one.
      Condition: {
        StringEquals: { 'kms:ViaService': { 'Fn::Join': ['', ['sns.us-east-1.', { Ref: 'AWS::URLSuffix' }]] } },
      },
    });
  }
});

test('the API settings reach both functions (the ECS pacing the ECS one only)', () => {
  const fns = functionsByBinary(
    Template.fromStack(stack({ maxConcurrency: 16, sdkMaxAttempts: 3, backoffRounds: 4, deadlineMarginSeconds: 30, updateServiceRate: '2/20', clusterResourceRate: '6/30' })),
  );
  for (const [id, f] of Object.values(fns)) {
    assert.deepEqual(
      [f.Properties.Environment.Variables.MAX_CONCURRENCY, f.Properties.Environment.Variables.SDK_MAX_ATTEMPTS],
      ['16', '3'],
      id,
    );
    assert.deepEqual(
      [f.Properties.Environment.Variables.BACKOFF_ROUNDS, f.Properties.Environment.Variables.DEADLINE_MARGIN_SECS],
      ['4', '30'],
      id,
    );
  }
  assert.equal(fns['ecs-retirement'][1].Properties.Environment.Variables.UPDATE_SERVICE_RATE, '2/20');
  assert.equal(fns['eks-fargate-pod'][1].Properties.Environment.Variables.UPDATE_SERVICE_RATE, undefined);
  assert.equal(fns['ecs-retirement'][1].Properties.Environment.Variables.CLUSTER_RESOURCE_RATE, '6/30');
  assert.equal(fns['eks-fargate-pod'][1].Properties.Environment.Variables.CLUSTER_RESOURCE_RATE, undefined);
});

test('alarms watch the dead-letter queue, both functions\' errors, failed outcomes, unverified resources and the preflight\'s high findings', () => {
  template.resourceCountIs('AWS::CloudWatch::Alarm', 8);
});

test('every alarm notifies the created alarm topic, which is KMS-encrypted with a key CloudWatch may use', () => {
  const topics = Object.keys(template.findResources('AWS::SNS::Topic'));
  assert.equal(topics.length, 1, 'one topic, the alarm topic');
  const [topic] = topics;
  const alarms = Object.entries(template.findResources('AWS::CloudWatch::Alarm')) as [string, any][];
  assert.equal(alarms.length, 8);
  for (const [name, alarm] of alarms) {
    assert.ok(alarm.Properties.AlarmActions?.length, `${name} has no AlarmActions: nobody hears of it`);
    assert.deepEqual(alarm.Properties.AlarmActions, [{ Ref: topic }], `${name}: nobody hears of it`);
    assert.deepEqual(alarm.Properties.OKActions, [{ Ref: topic }], name);
  }
  const keys = Object.keys(template.findResources('AWS::KMS::Key'));
  assert.equal(keys.length, 1);
  template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [keys[0], 'Arn'] } });
  template.hasResourceProperties('AWS::KMS::Key', {
    EnableKeyRotation: true,
    KeyPolicy: {
      Statement: Match.arrayWith([
        Match.objectLike({
          Principal: { Service: 'cloudwatch.amazonaws.com' },
          Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        }),
      ]),
    },
  });
  template.hasResourceProperties('AWS::SNS::TopicPolicy', {
    PolicyDocument: {
      Statement: Match.arrayWith([
        Match.objectLike({ Effect: 'Allow', Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: 'sns:Publish' }),
      ]),
    },
  });
  template.hasOutput('AlarmTopicArn', { Value: { Ref: topic } });
});

test('each function has an alarm on its failed outcomes (EMF Outcomes, Function=<logical name>, Result=failed)', () => {
  for (const fn of ['ecs-retirement', 'eks-fargate-pod']) {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'RetirementRemediator',
      MetricName: 'Outcomes',
      Dimensions: [
        { Name: 'Function', Value: fn },
        { Name: 'Result', Value: 'failed' },
      ],
      Statistic: 'Sum',
      Period: 300,
      EvaluationPeriods: 1,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
      AlarmDescription: Match.stringLikeRegexp('remediator status.*status=failed.*Result=retrying.*need a person'),
    });
  }
  Template.fromStack(stack({ metricsNamespace: 'Ops/Remediator' })).resourcePropertiesCountIs(
    'AWS::CloudWatch::Alarm',
    { Namespace: 'Ops/Remediator', MetricName: 'Outcomes' },
    2,
  );
});

test('with alarmTopicArn given, no topic or key is created and every alarm notifies that topic', () => {
  const given = 'arn:aws:sns:us-east-1:123456789012:ops-alarms';
  const withTopic = stack({ alarmTopicArn: given });
  const t = Template.fromStack(withTopic);
  t.resourceCountIs('AWS::SNS::Topic', 0);
  t.resourceCountIs('AWS::SNS::TopicPolicy', 0);
  t.resourceCountIs('AWS::KMS::Key', 0);
  const alarms = Object.entries(t.findResources('AWS::CloudWatch::Alarm')) as [string, any][];
  assert.equal(alarms.length, 8);
  for (const [name, alarm] of alarms) {
    assert.deepEqual(alarm.Properties.AlarmActions, [given], name);
    assert.deepEqual(alarm.Properties.OKActions, [given], name);
  }
  t.hasOutput('AlarmTopicArn', { Value: given });
  const errors = Annotations.fromStack(withTopic).findError('*', Match.stringLikeRegexp('AwsSolutions-.*'));
  const warnings = Annotations.fromStack(withTopic).findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*'));
  assert.deepEqual([...errors, ...warnings].map((e) => e.entry.data), []);
});

test('cdk-nag reports no unsuppressed AwsSolutions error or warning', () => {
  const errors = Annotations.fromStack(s).findError('*', Match.stringLikeRegexp('AwsSolutions-.*'));
  const warnings = Annotations.fromStack(s).findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*'));
  assert.deepEqual(errors.map((e) => e.entry.data), []);
  assert.deepEqual(warnings.map((w) => w.entry.data), []);
});

// The ledger: one table, read and written by both functions with four item actions on it alone.
const LEDGER_ACTIONS = ['dynamodb:BatchGetItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:PutItem'];

function ledgerTable(): [string, any] {
  const tables = Object.entries(template.findResources('AWS::DynamoDB::Table'));
  assert.equal(tables.length, 1, 'one DynamoDB table, the ledger');
  return tables[0] as [string, any];
}

test('the ledger table is on-demand, keyed by notice and resource, with PITR, AWS-managed SSE, TTL on expires, retained', () => {
  const [, table] = ledgerTable();
  assert.equal(table.DeletionPolicy, 'Retain');
  assert.equal(table.UpdateReplacePolicy, 'Retain');
  const p = table.Properties;
  assert.equal(p.BillingMode, 'PAY_PER_REQUEST');
  assert.equal(p.ProvisionedThroughput, undefined);
  assert.deepEqual(p.KeySchema, [
    { AttributeName: 'notice', KeyType: 'HASH' },
    { AttributeName: 'resource', KeyType: 'RANGE' },
  ]);
  assert.deepEqual(p.AttributeDefinitions, [
    { AttributeName: 'notice', AttributeType: 'S' },
    { AttributeName: 'resource', AttributeType: 'S' },
  ]);
  assert.deepEqual(p.PointInTimeRecoverySpecification, { PointInTimeRecoveryEnabled: true });
  // AWS-managed KMS key: SSE on, no customer key named.
  assert.deepEqual(p.SSESpecification, { SSEEnabled: true });
  assert.deepEqual(p.TimeToLiveSpecification, { AttributeName: 'expires', Enabled: true });
  assert.equal(p.TableName, undefined, 'CloudFormation names the table');
});

test('both functions get LEDGER_TABLE (the table) and LEDGER_RETENTION (90d unless set)', () => {
  const [id] = ledgerTable();
  template.resourceCountIs('AWS::Lambda::Function', 2);
  template.allResourcesProperties('AWS::Lambda::Function', {
    Environment: { Variables: Match.objectLike({ LEDGER_TABLE: { Ref: id }, LEDGER_RETENTION: '90d' }) },
  });
  template.hasOutput('LedgerTableName', { Value: { Ref: id } });
  Template.fromStack(stack({ ledgerRetention: '30d' })).allResourcesProperties('AWS::Lambda::Function', {
    Environment: { Variables: Match.objectLike({ LEDGER_RETENTION: '30d' }) },
  });
});

test('each function may only BatchGetItem, GetItem, UpdateItem and PutItem, on the ledger table only', () => {
  const [id] = ledgerTable();
  const policies = Object.values(template.findResources('AWS::IAM::Policy')) as any[];
  const functions = template.findResources('AWS::Lambda::Function');
  assert.equal(Object.keys(functions).length, 2);
  const functionRoles = new Set<string>();
  for (const [name, f] of Object.entries(functions) as [string, any][]) {
    const role = f.Properties.Role['Fn::GetAtt'][0];
    functionRoles.add(role);
    const ledgerStatements = policies
      .filter((p) => p.Properties.Roles.some((r: any) => r.Ref === role))
      .flatMap((p) => p.Properties.PolicyDocument.Statement)
      .filter((st: any) => [st.Action].flat().some((a: string) => a.startsWith('dynamodb:')));
    assert.deepEqual(
      ledgerStatements,
      [{ Effect: 'Allow', Action: LEDGER_ACTIONS, Resource: { 'Fn::GetAtt': [id, 'Arn'] } }],
      `${name}: the ledger statement`,
    );
  }
  // No other role (the scheduler's) gets DynamoDB at all.
  for (const p of policies) {
    if (p.Properties.Roles.some((r: any) => functionRoles.has(r.Ref))) continue;
    for (const st of p.Properties.PolicyDocument.Statement) {
      assert.ok(![st.Action].flat().some((a: string) => a.startsWith('dynamodb:')), JSON.stringify(st));
    }
  }
});

test('each function has an Unverified alarm (EMF Unverified, Function=<logical name>, Sum >= 1) telling what to do', () => {
  const unverified = Object.entries(template.findResources('AWS::CloudWatch::Alarm')).filter(
    ([, a]: [string, any]) => a.Properties.MetricName === 'Unverified',
  ) as [string, any][];
  const topic = Object.keys(template.findResources('AWS::SNS::Topic'))[0];
  assert.deepEqual(
    unverified.map(([, a]) => a.Properties.Dimensions).sort((a, b) => a[0].Value.localeCompare(b[0].Value)),
    [[{ Name: 'Function', Value: 'ecs-retirement' }], [{ Name: 'Function', Value: 'eks-fargate-pod' }]],
  );
  for (const [name, alarm] of unverified) {
    const p = alarm.Properties;
    assert.equal(p.Namespace, 'RetirementRemediator', name);
    assert.deepEqual([p.Statistic, p.Period, p.EvaluationPeriods], ['Sum', 300, 1], name);
    assert.deepEqual([p.ComparisonOperator, p.Threshold], ['GreaterThanOrEqualToThreshold', 1], name);
    assert.equal(p.TreatMissingData, 'notBreaching', name);
    assert.deepEqual(p.AlarmActions, [{ Ref: topic }], name);
    assert.deepEqual(p.OKActions, [{ Ref: topic }], name);
    for (const hint of ['not seen replaced', 'deadline', 'Check the resource', 'remediator status', 'unverified_by_deadline', 'AWS stops', 'off']) {
      assert.ok(p.AlarmDescription.includes(hint), `${name}: description lacks "${hint}"`);
    }
  }
  Template.fromStack(stack({ metricsNamespace: 'Ops/Remediator' })).resourcePropertiesCountIs(
    'AWS::CloudWatch::Alarm',
    { Namespace: 'Ops/Remediator', MetricName: 'Unverified' },
    2,
  );
});

// Scheduling: one-time schedules (follow-up checks after acting, deferrals to a window) in the
// stack's group, run through the scheduler role.
function functionsByBinary(t: Template): Record<'ecs-retirement' | 'eks-fargate-pod', [string, any]> {
  const fns = Object.entries(t.findResources('AWS::Lambda::Function')) as [string, any][];
  assert.equal(fns.length, 2);
  const ecs = fns.find(([id]) => id.startsWith('EcsRetirementFunction'));
  const eks = fns.find(([id]) => id.startsWith('EksFargatePodFunction'));
  assert.ok(ecs && eks, 'the ECS and EKS functions');
  return { 'ecs-retirement': ecs, 'eks-fargate-pod': eks };
}

/** The scheduler roles: one per function, by the function's binary name (from its SCHEDULE_ROLE_ARN). */
function schedulerRoleIds(t: Template): Record<'ecs-retirement' | 'eks-fargate-pod', string> {
  const roles = Object.entries(t.findResources('AWS::IAM::Role')).filter(([, r]: [string, any]) =>
    r.Properties.AssumeRolePolicyDocument.Statement.some((st: any) => st.Principal?.Service === 'scheduler.amazonaws.com'),
  );
  assert.equal(roles.length, 2, 'one scheduler role per function');
  const fns = functionsByBinary(t);
  const of = (fn: 'ecs-retirement' | 'eks-fargate-pod') => fns[fn][1].Properties.Environment.Variables.SCHEDULE_ROLE_ARN['Fn::GetAtt'][0];
  const ids = { 'ecs-retirement': of('ecs-retirement'), 'eks-fargate-pod': of('eks-fargate-pod') };
  assert.notEqual(ids['ecs-retirement'], ids['eks-fargate-pod']);
  assert.deepEqual(roles.map(([id]) => id).sort(), Object.values(ids).sort());
  return ids;
}

function statementsOf(t: Template, roleId: string): any[] {
  return (Object.values(t.findResources('AWS::IAM::Policy')) as any[])
    .filter((p) => p.Properties.Roles.some((r: any) => r.Ref === roleId))
    .flatMap((p) => p.Properties.PolicyDocument.Statement);
}

/** An ARN built with Fn::Join as one string, each Ref written ${Id}. */
function render(value: any): string {
  if (typeof value === 'string') return value;
  if (value?.Ref) return `\${${value.Ref}}`;
  if (value?.['Fn::Join']) return value['Fn::Join'][1].map(render).join(value['Fn::Join'][0]);
  return JSON.stringify(value);
}

test('both functions always get SCHEDULE_ROLE_ARN (their own scheduler role), SCHEDULE_GROUP and the follow-up settings', () => {
  for (const t of [template, Template.fromStack(stack({ maintenanceWindows: undefined }))]) {
    const roles = schedulerRoleIds(t);
    const group = Object.keys(t.findResources('AWS::Scheduler::ScheduleGroup'))[0];
    for (const [binary, [id, f]] of Object.entries(functionsByBinary(t)) as [keyof typeof roles, [string, any]][]) {
      const env = f.Properties.Environment.Variables;
      assert.deepEqual(env.SCHEDULE_ROLE_ARN, { 'Fn::GetAtt': [roles[binary], 'Arn'] }, `${id}: no follow-up checks without it`);
      assert.deepEqual(env.SCHEDULE_GROUP, { Ref: group }, id);
      assert.equal(env.FOLLOW_UP_CHECKS, 'on', id);
      assert.equal(env.FOLLOW_UP_FIRST, '5m', id);
      assert.equal(env.FOLLOW_UP_MAX, '60m', id);
      assert.equal(env.SCHEDULE_TARGET_ARN, undefined, `${id}: schedules target the invoked function`);
    }
  }
  const set = Template.fromStack(stack({ followUpChecks: false, followUpFirst: '10m', followUpMax: '2h' }));
  set.allResourcesProperties('AWS::Lambda::Function', {
    Environment: { Variables: Match.objectLike({ FOLLOW_UP_CHECKS: 'off', FOLLOW_UP_FIRST: '10m', FOLLOW_UP_MAX: '2h' }) },
  });
});

test('only the ECS function gets ROLLOUT_TIMEOUT (30m unless set)', () => {
  const fns = functionsByBinary(template);
  assert.equal(fns['ecs-retirement'][1].Properties.Environment.Variables.ROLLOUT_TIMEOUT, '30m');
  assert.equal(fns['eks-fargate-pod'][1].Properties.Environment.Variables.ROLLOUT_TIMEOUT, undefined);
  const set = functionsByBinary(Template.fromStack(stack({ rolloutTimeout: '45m' })));
  assert.equal(set['ecs-retirement'][1].Properties.Environment.Variables.ROLLOUT_TIMEOUT, '45m');
});

test("each function's scheduler role may invoke that function only (and its qualified ARNs)", () => {
  const roles = schedulerRoleIds(template);
  for (const [binary, [id]] of Object.entries(functionsByBinary(template)) as [keyof typeof roles, [string, any]][]) {
    const invocable = statementsOf(template, roles[binary])
      .filter((st) => st.Effect === 'Allow' && [st.Action].flat().includes('lambda:InvokeFunction'))
      .flatMap((st) => [st.Resource].flat())
      .map(render);
    const arn = render({ 'Fn::GetAtt': [id, 'Arn'] });
    assert.deepEqual(invocable.sort(), [arn, `${arn}:*`].sort(), `${roles[binary]} invokes ${id} only`);
  }
});

test('each scheduler role trusts EventBridge Scheduler for this account and the stack\'s schedule group only', () => {
  const group = Object.keys(template.findResources('AWS::Scheduler::ScheduleGroup'))[0];
  for (const role of Object.values(schedulerRoleIds(template))) {
    const [st] = template.findResources('AWS::IAM::Role')[role].Properties.AssumeRolePolicyDocument.Statement;
    assert.deepEqual(st.Principal, { Service: 'scheduler.amazonaws.com' });
    assert.deepEqual(st.Condition.StringEquals, { 'aws:SourceAccount': '123456789012' }, role);
    // EventBridge Scheduler's confused-deputy guide: the schedule group's ARN, not a schedule's.
    assert.equal(
      render(st.Condition.ArnEquals['aws:SourceArn']),
      `arn:\${AWS::Partition}:scheduler:us-east-1:123456789012:schedule-group/\${${group}}`,
      role,
    );
  }
});

test('the dead-letter queue denies every SQS action without TLS', () => {
  const statements = (Object.values(template.findResources('AWS::SQS::QueuePolicy')) as any[]).flatMap(
    (p) => p.Properties.PolicyDocument.Statement,
  );
  const denials = statements.filter((st) => st.Effect === 'Deny' && st.Condition?.Bool?.['aws:SecureTransport'] === 'false');
  assert.deepEqual(denials.map((st) => st.Action), ['sqs:*']);
});

test('confirmNotices: CONFIRM_NOTICES on the ECS function (off unless set), Health reads granted with health-api only', () => {
  const health = (t: Template) =>
    (Object.values(t.findResources('AWS::IAM::Policy')) as any[])
      .flatMap((p) => p.Properties.PolicyDocument.Statement)
      .filter((st: any) => [st.Action].flat().some((a: string) => a.startsWith('health:')));
  const off = functionsByBinary(template);
  assert.equal(off['ecs-retirement'][1].Properties.Environment.Variables.CONFIRM_NOTICES, 'off');
  assert.equal(off['eks-fargate-pod'][1].Properties.Environment.Variables.CONFIRM_NOTICES, undefined);
  assert.deepEqual(health(template), []);
  const t = Template.fromStack(stack({ confirmNotices: 'health-api' }));
  const on = functionsByBinary(t);
  assert.equal(on['ecs-retirement'][1].Properties.Environment.Variables.CONFIRM_NOTICES, 'health-api');
  const ecsRole = on['ecs-retirement'][1].Properties.Role['Fn::GetAtt'][0];
  const granted = statementsOf(t, ecsRole).filter((st) => [st.Action].flat().some((a: string) => a.startsWith('health:')));
  assert.deepEqual(health(t).length, granted.length, 'the ECS function only');
  assert.deepEqual(
    granted.map((st) => [[st.Action].flat().sort(), [st.Resource].flat().map(render).sort()]),
    [
      [
        ['health:DescribeAffectedEntities', 'health:DescribeEventDetails'],
        ['arn:${AWS::Partition}:health:*::event/EC2/*/*', 'arn:${AWS::Partition}:health:*::event/ECS/*/*'],
      ],
      [['health:DescribeAffectedEntitiesForOrganization', 'health:DescribeEventDetailsForOrganization'], ['*']],
    ],
  );
  assert.throws(() => stack({ confirmNotices: 'always' as any }), /confirmNotices/);
});

test('each function creates check-* and retirement-* schedules in the group only, passing its own scheduler role only', () => {
  const roles = schedulerRoleIds(template);
  const group = Object.keys(template.findResources('AWS::Scheduler::ScheduleGroup'))[0];
  const prefix = `arn:\${AWS::Partition}:scheduler:us-east-1:123456789012:schedule/\${${group}}/`;
  for (const [binary, [id, f]] of Object.entries(functionsByBinary(template)) as [keyof typeof roles, [string, any]][]) {
    const role = roles[binary];
    const statements = statementsOf(template, f.Properties.Role['Fn::GetAtt'][0]);
    const create = statements.filter((st) => [st.Action].flat().some((a: string) => a.startsWith('scheduler:')));
    assert.equal(create.length, 1, id);
    assert.equal(create[0].Action, 'scheduler:CreateSchedule', id);
    assert.deepEqual([create[0].Resource].flat().map(render).sort(), [`${prefix}check-*`, `${prefix}retirement-*`], id);
    const passes = statements.filter(
      (st) => [st.Action].flat().includes('iam:PassRole') && st.Condition?.StringEquals?.['iam:PassedToService'] === 'scheduler.amazonaws.com',
    );
    assert.equal(passes.length, 1, id);
    assert.deepEqual(passes[0].Resource, { 'Fn::GetAtt': [role, 'Arn'] }, `${id}: the scheduler role exactly`);
  }
});

// Many accounts: central mode (both functions assume the member role of infra/sam/member.yaml in
// the affected account) and forwarding mode (the default bus accepts the organization's events).
const MEMBER = 'retirement-remediator-member';
const ORG = 'o-a1b2c3d4e5';
const central = stack({ memberRoleName: MEMBER, accountsInclude: ['111111111111', '222222222222'], accountsExclude: ['333333333333'], organizationId: ORG });
const centralTemplate = Template.fromStack(central);

test('sts:AssumeRole is granted only with memberRoleName set: to each function, on its own member role name, in the organization', () => {
  assert.deepEqual(granting(template, 'sts:AssumeRole'), [], 'central mode off: no AssumeRole at all');
  const expected = (name: string) => ({
    Action: 'sts:AssumeRole',
    Effect: 'Allow',
    // Any account's role of that name (no other name, no path), of this account's organization only.
    Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:iam::*:role/${name}`]] },
    Condition: { StringEquals: { 'aws:ResourceOrgID': '${aws:PrincipalOrgID}' } },
  });
  const fns = functionsByBinary(centralTemplate);
  const ecsRole = fns['ecs-retirement'][1].Properties.Role['Fn::GetAtt'][0];
  const eksRole = fns['eks-fargate-pod'][1].Properties.Role['Fn::GetAtt'][0];
  const assumes = (role: string) => statementsOf(centralTemplate, role).filter((st) => [st.Action].flat().includes('sts:AssumeRole'));
  assert.deepEqual(assumes(ecsRole), [expected(MEMBER)], 'the ECS function assumes the ECS member role');
  assert.deepEqual(assumes(eksRole), [expected(`${MEMBER}-eks`)], 'the EKS function assumes the EKS member role (derived name)');
  const other = granting(Template.fromStack(stack({ memberRoleName: 'remediator', eksMemberRoleName: 'remediator-k8s' })), 'sts:AssumeRole');
  assert.deepEqual(other.map((st) => render(st.Resource)).sort(), [
    'arn:${AWS::Partition}:iam::*:role/remediator',
    'arn:${AWS::Partition}:iam::*:role/remediator-k8s',
  ]);
  // The member stack's CentralFunctionRoleArn and CentralEksFunctionRoleArn parameters.
  centralTemplate.hasOutput('CentralFunctionRoleArn', { Value: { 'Fn::GetAtt': [ecsRole, 'Arn'] } });
  centralTemplate.hasOutput('CentralEksFunctionRoleArn', { Value: { 'Fn::GetAtt': [eksRole, 'Arn'] } });
});

test('MEMBER_ROLE_NAME, ACCOUNTS_INCLUDE and ACCOUNTS_EXCLUDE reach both functions (empty unless set)', () => {
  const off = functionsByBinary(template);
  const on = functionsByBinary(centralTemplate);
  for (const fn of ['ecs-retirement', 'eks-fargate-pod'] as const) {
    assert.deepEqual(
      ['MEMBER_ROLE_NAME', 'ACCOUNTS_INCLUDE', 'ACCOUNTS_EXCLUDE'].map((v) => off[fn][1].Properties.Environment.Variables[v]),
      ['', '', ''],
      fn,
    );
    const env = on[fn][1].Properties.Environment.Variables;
    const name = fn === 'ecs-retirement' ? MEMBER : `${MEMBER}-eks`; // each function its own member role
    assert.deepEqual([env.MEMBER_ROLE_NAME, env.ACCOUNTS_INCLUDE, env.ACCOUNTS_EXCLUDE], [name, '111111111111,222222222222', '333333333333'], fn);
  }
});

test('organizationId lets the organization put the two retirement events on the default bus; unset, no bus policy', () => {
  template.resourceCountIs('AWS::Events::EventBusPolicy', 0);
  centralTemplate.resourceCountIs('AWS::Events::EventBusPolicy', 1);
  centralTemplate.hasResourceProperties('AWS::Events::EventBusPolicy', {
    EventBusName: 'default',
    Statement: {
      Effect: 'Allow',
      Principal: '*',
      Action: 'events:PutEvents',
      // StringEquals: single-valued keys (one source and one detail-type per PutEvents entry).
      Condition: {
        StringEquals: {
          'aws:PrincipalOrgID': ORG,
          'events:source': ['aws.health', 'aws.eks'],
          'events:detail-type': ['AWS Health Event', 'EKS Fargate Pod Scheduled Termination'],
        },
      },
    },
  });
  centralTemplate.hasOutput('CentralEventBusArn', {});
  assert.deepEqual(Object.keys(template.findOutputs('CentralEventBusArn')), []);
});

test('central mode props are checked: a role name, 12-digit accounts, an organization id', () => {
  assert.throws(() => stack({ memberRoleName: 'role/with/path' }), /memberRoleName/);
  assert.throws(() => stack({ eksMemberRoleName: 'role/with/path' }), /eksMemberRoleName/);
  assert.throws(() => stack({ accountsInclude: ['12345'] }), /accountsInclude/);
  assert.throws(() => stack({ accountsExclude: ['1234567890123'] }), /accountsExclude/);
  assert.throws(() => stack({ organizationId: '123456789012' }), /organizationId/);
  assert.throws(() => stack({ organizationAccounts: 'on' }), /memberRoleName/);
  assert.throws(() => stack({ organizationAccounts: 'yes' as any, memberRoleName: 'm' }), /organizationAccounts/);
});

test('cdk-nag reports no unsuppressed AwsSolutions error or warning in central and forwarding mode', () => {
  const errors = Annotations.fromStack(central).findError('*', Match.stringLikeRegexp('AwsSolutions-.*'));
  const warnings = Annotations.fromStack(central).findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*'));
  assert.deepEqual([...errors, ...warnings].map((e) => e.entry.data), []);
});

test('a rate outside the function\'s bounds is refused at synthesis, naming the prop', () => {
  for (const [prop, rate] of [['updateServiceRate', '1/61'], ['clusterResourceRate', '1001/10'], ['updateServiceRate', '0/5'], ['clusterResourceRate', '12']]) {
    assert.throws(() => stack({ [prop]: rate }), new RegExp(`${prop}: .*not ${rate}`));
  }
  assert.doesNotThrow(() => stack({ updateServiceRate: '1/60', clusterResourceRate: 'off' }));
});
