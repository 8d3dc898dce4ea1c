// The remediator in one account and Region: the same resources as infra/sam/template.yaml.
import * as path from 'path';
import { Duration, Stack, StackProps } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
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
}

export const ECS_PATTERN: events.EventPattern = {
  source: ['aws.health'],
  detailType: ['AWS Health Event'],
  detail: { service: ['ECS'], eventTypeCode: ['AWS_ECS_TASK_PATCHING_RETIREMENT'] },
};

export const EKS_PATTERN: events.EventPattern = {
  source: ['aws.eks'],
  detailType: ['EKS Fargate Pod Scheduled Termination'],
};

export class RemediatorStack extends Stack {
  constructor(scope: Construct, id: string, props: RemediatorProps) {
    super(scope, id, props);
    const dryRun = String(props.dryRun ?? true);

    const deadLetters = new sqs.Queue(this, 'DeadLetterQueue', {
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    NagSuppressions.addResourceSuppressions(deadLetters, [
      { id: 'AwsSolutions-SQS3', reason: 'This queue is the dead-letter queue of both functions.' },
    ]);

    const fn = (name: string, binary: string, environment: Record<string, string>) => {
      const logGroup = new logs.LogGroup(this, `${name}Logs`, { retention: logs.RetentionDays.ONE_MONTH });
      const f = new lambda.Function(this, name, {
        runtime: lambda.Runtime.PROVIDED_AL2023,
        architecture: lambda.Architecture.ARM_64,
        handler: 'bootstrap',
        code: lambda.Code.fromAsset(path.join(props.assetsDir, binary)),
        memorySize: 128,
        timeout: Duration.minutes(15),
        deadLetterQueue: deadLetters,
        retryAttempts: 2,
        maxEventAge: Duration.hours(6),
        loggingFormat: lambda.LoggingFormat.JSON,
        logGroup,
        environment: { DRY_RUN: dryRun, MAX_CONCURRENCY: '8', ...environment },
      });
      new cloudwatch.Alarm(this, `${name}Errors`, {
        alarmDescription: `${binary} failed invocations (retryable outcomes or rejected input).`,
        metric: f.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
        threshold: 0,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      return f;
    };

    const arn = (service: string, resource: string) =>
      `arn:${this.partition}:${service}:${this.region}:${this.account}:${resource}`;

    const ecs = fn('EcsRetirementFunction', 'ecs-retirement', { UPDATE_SERVICE_RATE: '5/50' });
    const allow = (actions: string[], resources: string[], conditions?: Record<string, unknown>) =>
      ecs.addToRolePolicy(new iam.PolicyStatement({ actions, resources, conditions }));
    allow(['ecs:DescribeServices', 'ecs:UpdateService'], [arn('ecs', 'service/*/*')]);
    allow(['ecs:DescribeTasks', 'ecs:StopTask'], [arn('ecs', 'task/*/*')]);
    allow(['ecs:RunTask'], [arn('ecs', 'task-definition/*:*')]);
    allow(['ecs:TagResource'], [arn('ecs', 'task/*/*')], { StringEquals: { 'ecs:CreateAction': 'RunTask' } });
    allow(['ecs:ListTasks'], [arn('ecs', 'container-instance/*/*')]);
    allow(['ecs:DescribeClusters'], [arn('ecs', 'cluster/*')]);
    // These actions have no resource-level permissions.
    allow(['ecs:ListClusters', 'ecs:DescribeTaskDefinition', 'ec2:DescribeNetworkInterfaces'], ['*']);
    allow(['iam:PassRole'], [`arn:${this.partition}:iam::${this.account}:role/*`], {
      StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' },
    });
    allow(
      ['codedeploy:CreateDeployment', 'codedeploy:GetDeployment', 'codedeploy:GetDeploymentGroup', 'codedeploy:ListDeployments'],
      [arn('codedeploy', 'deploymentgroup:*/*')],
    );
    allow(
      ['codedeploy:ListDeploymentGroups', 'codedeploy:GetApplicationRevision', 'codedeploy:RegisterApplicationRevision'],
      [arn('codedeploy', 'application:*')],
    );
    allow(['codedeploy:GetDeploymentConfig'], [arn('codedeploy', 'deploymentconfig:*')]);
    allow(['codedeploy:ListApplications', 'codedeploy:BatchGetDeployments'], ['*']);

    const eks = fn('EksFargatePodFunction', 'eks-fargate-pod', {});
    const clusters = props.eksClusterNames ?? [];
    eks.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['eks:DescribeCluster'],
        resources: clusters.length > 0 ? clusters.map((c) => arn('eks', `cluster/${c}`)) : [arn('eks', 'cluster/none-configured')],
      }),
    );

    new events.Rule(this, 'EcsRetirementRule', {
      eventPattern: ECS_PATTERN,
      targets: [new targets.LambdaFunction(ecs, { deadLetterQueue: deadLetters, retryAttempts: 4 })],
    });
    new events.Rule(this, 'EksFargatePodRule', {
      eventPattern: EKS_PATTERN,
      targets: [new targets.LambdaFunction(eks, { deadLetterQueue: deadLetters, retryAttempts: 4 })],
    });

    new cloudwatch.Alarm(this, 'DeadLettersWaiting', {
      alarmDescription: 'Events the remediator could not handle are waiting in the dead-letter queue.',
      metric: deadLetters.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
      threshold: 0,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
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
          'Resource wildcards only: the remediator acts on whichever services, tasks, task definitions and deployment groups a retirement names; actions are listed one by one, and actions without resource-level permissions (ListClusters, DescribeTaskDefinition, DescribeNetworkInterfaces, ListApplications, BatchGetDeployments) need "*".',
      },
    ]);
  }
}
