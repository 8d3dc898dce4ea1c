#!/usr/bin/env node
// `cdk deploy` entry: one stack per account and Region; cdk-nag checks it on every synth.
import * as path from 'path';
import { App, Aspects } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { RemediatorStack } from '../lib/remediator-stack';

const app = new App();
const assetsDir = path.resolve(app.node.tryGetContext('assetsDir') ?? '../../target/lambda');
/** A comma-separated context value as a list; `fallback` when unset, `[]` for `none`. */
const list = (key: string, fallback?: string[]) => {
  const value = app.node.tryGetContext(key);
  if (value === undefined) return fallback;
  const items = String(value)
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c.length > 0);
  return items.length === 1 && items[0] === 'none' ? [] : items;
};
/** A whole-number context value, or undefined when unset. */
const num = (key: string) => {
  const value = app.node.tryGetContext(key);
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n)) throw new Error(`context ${key}=${value}: a whole number is expected`);
  return n;
};
new RemediatorStack(app, 'FargateRetirementRemediator', {
  assetsDir,
  dryRun: app.node.tryGetContext('dryRun') !== 'false',
  eksClusterNames: list('eksClusterNames', []),
  ecsClusterNames: list('ecsClusterNames'),
  passableTaskRoles: list('passableTaskRoles'),
  optInOnly: app.node.tryGetContext('optInOnly') === 'true',
  maintenanceWindows: app.node.tryGetContext('maintenanceWindows'),
  deadlineMargin: app.node.tryGetContext('deadlineMargin'),
  followUpChecks: !['false', 'off'].includes(String(app.node.tryGetContext('followUpChecks'))),
  followUpFirst: app.node.tryGetContext('followUpFirst'),
  followUpMax: app.node.tryGetContext('followUpMax'),
  rolloutTimeout: app.node.tryGetContext('rolloutTimeout'),
  replaceDrainedInstances: String(app.node.tryGetContext('replaceDrainedInstances')) === 'true',
  notificationTopicArn: app.node.tryGetContext('notificationTopicArn'),
  notificationTopicKmsKeyArn: app.node.tryGetContext('notificationTopicKmsKeyArn'),
  maxConcurrency: num('maxConcurrency'),
  updateServiceRate: app.node.tryGetContext('updateServiceRate'),
  clusterResourceRate: app.node.tryGetContext('clusterResourceRate'),
  sdkMaxAttempts: num('sdkMaxAttempts'),
  backoffRounds: num('backoffRounds'),
  deadlineMarginSeconds: num('deadlineMarginSeconds'),
  functionConcurrency: num('functionConcurrency'),
  alarmTopicArn: app.node.tryGetContext('alarmTopicArn'),
  metricsNamespace: app.node.tryGetContext('metricsNamespace'),
  ledgerRetention: app.node.tryGetContext('ledgerRetention'),
  // Many accounts (infra/README.md, "Many accounts"): central mode and forwarding mode.
  memberRoleName: app.node.tryGetContext('memberRoleName'),
  eksMemberRoleName: app.node.tryGetContext('eksMemberRoleName'),
  confirmNotices: app.node.tryGetContext('confirmNotices'),
  accountsInclude: list('accountsInclude'),
  accountsExclude: list('accountsExclude'),
  organizationId: app.node.tryGetContext('organizationId'),
  env: {
    account: process.env.CDK_DEFAULT_ACCOUNT ?? '123456789012',
    region: process.env.CDK_DEFAULT_REGION ?? 'us-east-1',
  },
});
Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
