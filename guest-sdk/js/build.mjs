// Builds a swirl function written in JavaScript into a component:
//   node build.mjs <toolchain dir> <wit dir> <function's module> <output .wasm>
// Bundles the module with the "swirl" SDK (rolldown), then runs
// componentize-js on the bundle. build.sh installs the toolchain (the npm
// packages, pinned) and calls this.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const [toolchain, wit, source, output] = process.argv.slice(2);
if (!output) {
  console.error("usage: node build.mjs <toolchain dir> <wit dir> <index.js> <output.wasm>");
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));

// The toolchain lives in a cache outside this directory, where Node's own
// resolution would not look: load a package by its manifest's entry point.
async function load(name) {
  const dir = join(toolchain, "node_modules", name);
  const manifest = JSON.parse(await readFile(join(dir, "package.json"), "utf8"));
  const exported = manifest.exports?.["."] ?? manifest.exports;
  const entry =
    typeof exported === "string" ? exported : (exported?.import ?? exported?.default ?? manifest.main);
  return import(pathToFileURL(join(dir, entry)).href);
}
const { rolldown } = await load("rolldown");
const { componentize } = await load("@bytecodealliance/componentize-js");

const started = Date.now();
const work = await mkdtemp(join(tmpdir(), "swirl-js-"));
try {
  const bundled = join(work, "bundle.js");
  const bundle = await rolldown({
    input: join(here, "entry.js"),
    resolve: {
      alias: { swirl: join(here, "swirl.js"), "swirl-function": resolve(source) },
    },
    external: [/^swirl:function\//, /^wasi:/],
    logLevel: "warn",
  });
  await bundle.write({ file: bundled, format: "esm" });
  await bundle.close();
  const { component } = await componentize({
    sourcePath: bundled,
    witPath: resolve(wit),
    worldName: "function",
  });
  await writeFile(output, component);
  console.error(
    `built ${output} (${(component.byteLength / 1e6).toFixed(1)} MB) in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
} finally {
  await rm(work, { recursive: true, force: true });
}
