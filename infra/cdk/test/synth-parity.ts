// Synthesizes the stack once per configuration and prints the CloudFormation templates as JSON:
// stdin is {"<name>": <RemediatorProps without assetsDir>, ...}, stdout {"<name>": <template>, ...}.
// tests/infra/test_sam_cdk_parity.py runs it to compare the CDK app with infra/sam/template.yaml.
// The stacks are environment-agnostic (no account or Region), so the templates say
// {"Ref": "AWS::Region"} and {"Ref": "AWS::AccountId"} where the SAM template says ${AWS::Region}.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App } from 'aws-cdk-lib';
import { RemediatorProps, RemediatorStack } from '../lib/remediator-stack';

const configs: Record<string, Omit<RemediatorProps, 'assetsDir'>> = JSON.parse(fs.readFileSync(0, 'utf8'));
// Stand-in build output: synthesis only needs the asset directories to exist.
const assetsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'remediator-parity-'));
for (const bin of ['ecs-retirement', 'eks-fargate-pod']) {
  fs.mkdirSync(path.join(assetsDir, bin));
  fs.writeFileSync(path.join(assetsDir, bin, 'bootstrap'), 'stand-in');
}
const app = new App({ outdir: fs.mkdtempSync(path.join(os.tmpdir(), 'remediator-parity-out-')) });
const names = Object.keys(configs);
names.forEach((name, i) => new RemediatorStack(app, `Parity${i}`, { ...configs[name], assetsDir }));
const assembly = app.synth();
const templates: Record<string, unknown> = {};
names.forEach((name, i) => {
  templates[name] = assembly.getStackByName(`Parity${i}`).template;
});
fs.rmSync(assetsDir, { recursive: true, force: true });
fs.rmSync(assembly.directory, { recursive: true, force: true });
process.stdout.write(JSON.stringify(templates));
