// The CDK app against the SAM template, the member stack and the Service Authorization Reference:
// the Python tests tests/infra/test_sam_cdk_parity.py, test_iam_policies.py, test_member_stack.py and
// test_policy_size.py (IAM's policy size quotas) synthesize this app (test/synth-parity.ts) and compare. `make infra` runs them before `npm ci` has installed
// node_modules (a fresh clone skips the CDK side there); here they run with node_modules present
// and may not skip.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const root = path.resolve(__dirname, '..', '..', '..');
const python = process.env.PYTHON ?? path.join(root, '.venv', 'bin', 'python');

test('SAM and CDK set the same environment and grant the same, as the reference documents', (t) => {
  if (!fs.existsSync(python) || !fs.existsSync(path.join(root, '.venv-sam', 'bin', 'python'))) {
    // In CI (CI=true) a missing venv is a missing install step, not a reason to skip.
    assert.notEqual(process.env.CI, 'true', `needs ${python} and .venv-sam (make venv .venv-sam/.installed)`);
    t.skip(`needs ${python} and .venv-sam (make venv .venv-sam/.installed; make test makes both first)`);
    return;
  }
  const run = spawnSync(python, ['-m', 'unittest', 'test_sam_cdk_parity', 'test_iam_policies', 'test_member_stack', 'test_policy_size'], {
    cwd: path.join(root, 'tests', 'infra'),
    env: { ...process.env, INFRA_TESTS_NO_SKIP: '1' },
    encoding: 'utf8',
    timeout: 600_000,
  });
  assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
  assert.match(run.stderr, /^OK$/m, run.stderr);
});
