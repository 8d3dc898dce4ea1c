"""cfn-lint on what CloudFormation receives, beyond `make infra`'s run on the SAM source:

- infra/sam/member.yaml, plain CloudFormation that the Makefile does not lint;
- the SAM template as SAM's transform hands it to CloudFormation. Linting the source misses
  errors in what the transform passes through (a function as Fn::Join's delimiter, which
  CloudFormation rejects at deploy, passed the source lint).
Errors fail, warnings pass (as `make infra`). Needs .venv/bin/cfn-lint (`make venv`).
"""

import json
import os
import subprocess
import tempfile
import unittest

import templates as T

CFN_LINT = os.path.join(T.ROOT, ".venv", "bin", "cfn-lint")


def lint(path):
    if not os.path.exists(CFN_LINT):
        T._unavailable(f"needs {CFN_LINT}: make venv")
    out = subprocess.run([CFN_LINT, "--regions", "us-east-1", "--", path], capture_output=True, text=True, timeout=300)
    # cfn-lint's exit code is a bit set: 1 fatal, 2 error, 4 warning, 8 informational.
    return out.returncode & 3, out.stdout + out.stderr


class CfnLint(unittest.TestCase):
    def test_the_member_stack_has_no_error(self):
        failed, output = lint(T.MEMBER_TEMPLATE)
        self.assertEqual(failed, 0, output)

    def test_the_sam_template_as_transformed_has_no_error(self):
        transformed = T.sam_template()
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(transformed, f)
        try:
            failed, output = lint(f.name)
        finally:
            os.unlink(f.name)
        self.assertEqual(failed, 0, output)


if __name__ == "__main__":
    unittest.main()
