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
import { RemediatorStack } from '../lib/remediator-stack';

function stack() {
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
    ReservedConcurrentExecutions: 1,
    DeadLetterConfig: Match.objectLike({ TargetArn: Match.anyValue() }),
  });
  template.resourceCountIs('AWS::Lambda::EventInvokeConfig', 2);
  template.allResourcesProperties('AWS::Lambda::EventInvokeConfig', { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 21600 });
});

test('the rules match the ECS retirement and the EKS pod termination exactly', () => {
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

test('eks:DescribeCluster is allowed on the configured clusters only', () => {
  template.hasResourceProperties('AWS::IAM::Policy', {
    PolicyDocument: {
      Statement: Match.arrayWith([
        Match.objectLike({ Action: 'eks:DescribeCluster', Resource: Match.objectLike({ 'Fn::Join': Match.anyValue() }) }),
      ]),
    },
  });
});

test('alarms watch the dead-letter queue and both functions\' errors', () => {
  template.resourceCountIs('AWS::CloudWatch::Alarm', 3);
});

test('cdk-nag reports no unsuppressed AwsSolutions error or warning', () => {
  const errors = Annotations.fromStack(s).findError('*', Match.stringLikeRegexp('AwsSolutions-.*'));
  const warnings = Annotations.fromStack(s).findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*'));
  assert.deepEqual(errors.map((e) => e.entry.data), []);
  assert.deepEqual(warnings.map((w) => w.entry.data), []);
});
