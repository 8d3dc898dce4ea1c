#!/usr/bin/env node
// `cdk deploy` entry: one stack per account and Region; cdk-nag checks it on every synth.
import * as path from 'path';
import { App, Aspects } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { RemediatorStack } from '../lib/remediator-stack';

const app = new App();
const assetsDir = path.resolve(app.node.tryGetContext('assetsDir') ?? '../../target/lambda');
const clusters = String(app.node.tryGetContext('eksClusterNames') ?? '')
  .split(',')
  .map((c) => c.trim())
  .filter((c) => c.length > 0);
new RemediatorStack(app, 'FargateRetirementRemediator', {
  assetsDir,
  dryRun: app.node.tryGetContext('dryRun') !== 'false',
  eksClusterNames: clusters,
  optInOnly: app.node.tryGetContext('optInOnly') === 'true',
  maintenanceWindows: app.node.tryGetContext('maintenanceWindows'),
  deadlineMargin: app.node.tryGetContext('deadlineMargin'),
  followUpChecks: !['false', 'off'].includes(String(app.node.tryGetContext('followUpChecks'))),
  followUpFirst: app.node.tryGetContext('followUpFirst'),
  followUpMax: app.node.tryGetContext('followUpMax'),
  rolloutTimeout: app.node.tryGetContext('rolloutTimeout'),
  notificationTopicArn: app.node.tryGetContext('notificationTopicArn'),
  alarmTopicArn: app.node.tryGetContext('alarmTopicArn'),
  metricsNamespace: app.node.tryGetContext('metricsNamespace'),
  ledgerRetention: app.node.tryGetContext('ledgerRetention'),
  env: {
    account: process.env.CDK_DEFAULT_ACCOUNT ?? '123456789012',
    region: process.env.CDK_DEFAULT_REGION ?? 'us-east-1',
  },
});
Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
