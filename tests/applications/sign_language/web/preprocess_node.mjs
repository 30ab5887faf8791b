// Runs static/preprocess.js under Node for tests/.../test_web_preprocess.py:
// reads JSON cases {rgba: [...], width, height, size, mode} from the file
// given as argv[2] and prints the model inputs (8-bit pixels) as JSON.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const [, , modulePath, casesPath] = process.argv;
const { preprocessPixels } = await import(pathToFileURL(modulePath).href);
const cases = JSON.parse(readFileSync(casesPath, "utf8"));
const out = cases.map((c) =>
  Array.from(preprocessPixels(Uint8Array.from(c.rgba), c.width, c.height, c.size, c.mode).pixels),
);
process.stdout.write(JSON.stringify(out));
