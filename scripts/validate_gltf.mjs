// Validate glTF/GLB files with the Khronos glTF-Validator and print one JSON report per file.
// Usage: node scripts/validate_gltf.mjs FILE [FILE ...]
// Exit code: 0 when every file has no errors and no warnings, 1 otherwise, 2 on a usage error.
import { readFile } from "node:fs/promises";
import validator from "gltf-validator";

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node scripts/validate_gltf.mjs FILE [FILE ...]");
  process.exit(2);
}
let clean = true;
const reports = [];
for (const file of files) {
  const bytes = new Uint8Array(await readFile(file));
  const report = await validator.validateBytes(bytes, { uri: file, maxIssues: 100 });
  const { numErrors, numWarnings } = report.issues;
  if (numErrors > 0 || numWarnings > 0) clean = false;
  reports.push(report);
}
console.log(JSON.stringify(reports));
process.exit(clean ? 0 : 1);
