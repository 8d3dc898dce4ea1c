"""Every command README.md shows, run once as written (`make docs`, part of `make test`).

Each line of each ```sh block must match one rule below, or this fails: a command added to the
README without saying how it is checked is caught. Blocks that need no AWS account run as they
are; those after `<!-- needs: aws-account -->` run against moto (the account's stand-in), or, for
a deployment, as the nearest command that needs no account (`cdk synth` for `cdk deploy`), or
are named as not run with the reason. `make test` is the command running this, so it is not run
again.

    python3 tests/docs/readme_commands.py [--list]
"""

import os
import pathlib
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv"
TARGET = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))


def blocks():
    """(needs_account, [command lines]) for each ```sh block of the README."""
    out, current, marker, needs = [], None, False, False
    for line in (ROOT / "README.md").read_text().splitlines():
        if current is None:
            if line.strip() == "<!-- needs: aws-account -->":
                marker = True
                continue
            if line.strip() == "```sh":
                current, needs, marker = [], marker, False
                continue
            if line.strip():
                marker = False
        elif line.strip() == "```":
            out.append((needs, current))
            current = None
        else:
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command:
                current.append(command)
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Moto:
    """A moto server on loopback, the account the aws-account commands run against."""

    def __enter__(self):
        port = free_port()
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [str(VENV / "bin" / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        self.env = dict(
            os.environ,
            AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
            AWS_ACCESS_KEY_ID="readme", AWS_SECRET_ACCESS_KEY="readme",
            AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
        )
        self.env.pop("AWS_PROFILE", None)
        return self

    def __exit__(self, *_):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def run(command, env=None, ok=(0,), cwd=ROOT):
    print(f"+ {command}", flush=True)
    done = subprocess.run(["bash", "-c", command], cwd=cwd, env=env)
    if done.returncode not in ok:
        sys.exit(f"readme: `{command}` exited {done.returncode}, expected one of {ok}")


def stand_in_assets():
    assets = pathlib.Path(tempfile.mkdtemp())
    for function in ("ecs-retirement", "eks-fargate-pod"):
        (assets / function).mkdir()
        (assets / function / "bootstrap").touch()
    return assets


def rules(moto):
    """(pattern, what to do) for every command the README may show."""
    ledger = "retirement-ledger-readme"

    def remediator(line):
        # As written, with the ledger the stack would output: made first, as the stack does.
        command = line.replace("<output LedgerTableName>", ledger)
        if "LEDGER_TABLE" in command:
            run(f"LEDGER_TABLE={ledger} cargo run -q --bin remediator -- ledger init", moto.env)
        # preflight exits 1 with a high finding: a true answer, not a failure of the command.
        run(command, moto.env, ok=(0, 1))

    def cdk_deploy(line):
        # The same app and context, synthesized instead of deployed, with stand-in assets.
        args = shlex.split(line)[3:]
        pairs = [args[i:i + 2] for i in range(0, len(args), 2)]
        if any(len(p) != 2 or p[0] != "-c" for p in pairs):
            sys.exit(f"readme: `{line}`: only -c KEY=VALUE options are understood")
        context = " ".join(f"-c {shlex.quote(v)}" for _, v in pairs if not v.startswith("assetsDir="))
        run(f"CDK_DISABLE_VERSION_CHECK=1 npx cdk synth --no-notices --quiet -c assetsDir={stand_in_assets()} {context}",
            cwd=ROOT / "infra" / "cdk")

    def not_run(why):
        return lambda line: print(f"- not run: {line}\n  ({why})", flush=True)

    return [
        (r"^make test$", not_run("the command running this check")),
        (r"^make demo$", lambda line: run(line)),
        (r"^(LEDGER_TABLE=(<[^>]+>|\S+) )?cargo run --bin remediator -- ", remediator),
        (r"^make venv \.venv-sam/\.installed && export PATH=\$PWD/\.venv/bin:\$PWD/\.venv-sam/bin:\$PATH$",
         lambda line: run(line + " && command -v sam && command -v cargo-lambda")),
        (r"^cd infra/sam && sam build --beta-features$",
         not_run("a release build of both functions for arm64; `make zip` builds the same, `make infra` runs `sam validate --lint` on the template")),
        (r"^sam deploy --guided$", not_run("interactive, and deploys to a real account")),
        (r"^cargo lambda build --release --arm64 ",
         not_run("the arm64 release build `make zip` runs; the synth below uses stand-in assets")),
        (r"^cd infra/cdk && npm ci$", lambda line: run(line)),
        (r"^npx cdk deploy ", cdk_deploy),
    ]


def main():
    found = blocks()
    if len(found) < 3:
        sys.exit(f"readme: only {len(found)} shell blocks found")
    unknown = []
    with Moto() as moto:
        table = rules(moto)
        for needs_account, lines in found:
            for line in lines:
                rule = next((act for pattern, act in table if re.search(pattern, line)), None)
                if rule is None:
                    unknown.append(line)
                elif "--list" in sys.argv:
                    print(f"{'aws-account' if needs_account else 'local'}: {line}")
                else:
                    rule(line)
    if unknown:
        sys.exit("readme: commands with no rule in tests/docs/readme_commands.py:\n  " + "\n  ".join(unknown))
    print("readme: every command checked")


if __name__ == "__main__":
    main()
