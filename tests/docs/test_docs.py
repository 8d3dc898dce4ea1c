"""The Markdown the repository shows stays true: the README is a guide of at most 250 lines,
and every relative link and #anchor of every Markdown file resolves (GitHub's heading slugs).

Run by `make docs` (part of `make test`)."""

import pathlib
import re
import subprocess
import unittest

ROOT = pathlib.Path(__file__).resolve().parents[2]
README_MAX_LINES = 250
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~)")


def markdown_files():
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.md"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()
    return [ROOT / p for p in out if "node_modules" not in p]


def prose_lines(text):
    """The lines outside fenced code blocks."""
    inside = False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            inside = not inside
            continue
        if not inside:
            yield line


def slug(heading):
    """GitHub's anchor of a heading: lowercase, punctuation but `-` and `_` dropped, spaces to `-`."""
    text = re.sub(r"`", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path):
    seen = {}
    out = set()
    for line in prose_lines(path.read_text()):
        m = re.match(r"^#{1,6}\s+(.*)$", line)
        if not m:
            continue
        base = slug(m.group(1))
        n = seen.get(base, 0)
        out.add(base if n == 0 else f"{base}-{n}")
        seen[base] = n + 1
    return out


def broken_links(path):
    broken = []
    for line in prose_lines(path.read_text()):
        # Inline code is not a link.
        for target in LINK.findall(re.sub(r"`[^`]*`", "", line)):
            if re.match(r"^[a-z]+:", target):
                continue
            file_part, _, anchor = target.partition("#")
            dest = (path.parent / file_part).resolve() if file_part else path
            if not dest.exists():
                broken.append(f"{target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                broken.append(f"{target} (no such heading)")
    return broken


class TheDocs(unittest.TestCase):
    def test_the_readme_is_a_guide_of_at_most_250_lines(self):
        lines = (ROOT / "README.md").read_text().count("\n")
        self.assertLessEqual(lines, README_MAX_LINES)

    def test_every_relative_link_and_anchor_of_every_markdown_file_resolves(self):
        files = markdown_files()
        self.assertGreater(len(files), 8, files)
        broken = {str(p.relative_to(ROOT)): b for p in files if (b := broken_links(p))}
        self.assertEqual(broken, {})

    def test_a_missing_file_or_heading_is_caught(self):
        tmp = ROOT / "tests" / "docs" / ".probe.md"
        try:
            tmp.write_text("# Here\n\n[ok](#here) [gone](#nowhere) [file](no-such.md) `[code](x.md)`\n")
            self.assertEqual(broken_links(tmp), ["#nowhere (no such heading)", "no-such.md (no such file)"])
        finally:
            tmp.unlink()

    def test_slugs_follow_github(self):
        self.assertEqual(slug("Known limits of central mode (issues 15 and 16)"),
                         "known-limits-of-central-mode-issues-15-and-16")
        self.assertEqual(slug("`rollout_stalled`"), "rollout_stalled")
        self.assertEqual(slug("ECS on EC2: container instances"), "ecs-on-ec2-container-instances")


if __name__ == "__main__":
    unittest.main()
