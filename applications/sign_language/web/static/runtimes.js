// The two browser runtimes behind one interface:
//   const runner = await openRuntime(name, info);  // name: "litert" | "onnx"
//   const probabilities = await runner.run(float32Input);  // (size*size*channels) -> Float32Array
// runner.model, runner.label and runner.note say what runs.
// Every script and .wasm file comes from this server (/vendor/, installed
// by npm ci from package-lock.json): nothing is fetched from a CDN.

const LITERT_VERSION = "@litertjs/core 2.5.3";
const ORT_VERSION = "onnxruntime-web 1.31.1";

function shapeOf(info) {
  const channels = info.color_mode === "grayscale" ? 1 : 3;
  return [1, info.image_size, info.image_size, channels];
}

async function openLiteRt(info) {
  const litert = await import("/vendor/litertjs/core.js");
  await litert.loadLiteRt("/vendor/litertjs/wasm/");
  const shape = shapeOf(info);
  const zeros = new Float32Array(shape.reduce((a, b) => a * b, 1));
  // LiteRT.js has no APALU kernel: measured with @litertjs/core 2.5.3, it
  // loads model.tflite (APALU as one custom op) without an error and returns
  // wrong probabilities (max |diff| 0.15 from the Python interpreter, which
  // registers the kernel). So the page runs the builtin-op export unless
  // ?model=fused asks for the fused file (for that measurement).
  const wanted = new URLSearchParams(location.search).get("model") === "fused" ? "fused" : "builtin";
  const model =
    info.models.find((m) => m.runtime === "litert" && m.kind === wanted) ||
    info.models.find((m) => m.runtime === "litert");
  const compiled = await litert.loadAndCompile(model.url, { accelerator: "wasm" });
  const run = async (input) => {
    const tensor = new litert.Tensor(input, shape);
    try {
      const outputs = await compiled.run(tensor);
      const values = Float32Array.from(outputs[0].toTypedArray());
      for (const output of outputs) output.delete();
      return values;
    } finally {
      tensor.delete();
    }
  };
  await run(zeros);
  const note =
    model.kind === "fused"
      ? "model.tflite holds APALU as one custom op, which LiteRT.js has no kernel for: its outputs here are NOT the model's (diagnostic mode, ?model=fused)."
      : "LiteRT.js has no kernel for the fused APALU custom op of model.tflite, so this page runs model_builtin.tflite: the same network with APALU written as TFLite builtin ops.";
  return { run, model, label: `LiteRT.js (${LITERT_VERSION}, WebAssembly CPU)`, note };
}

async function openOnnx(info) {
  const model = info.models.find((m) => m.runtime === "onnx");
  if (!model) {
    throw new Error(
      "the run has no model.onnx: write it with python -m applications.sign_language web --export-onnx --run-dir DIR",
    );
  }
  const ort = await import("/vendor/ort/ort.wasm.min.mjs");
  ort.env.wasm.wasmPaths = "/vendor/ort/";
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.logLevel = "error";
  const session = await ort.InferenceSession.create(model.url, { executionProviders: ["wasm"] });
  const shape = shapeOf(info);
  const run = async (input) => {
    const feeds = { [session.inputNames[0]]: new ort.Tensor("float32", input, shape) };
    const outputs = await session.run(feeds);
    return Float32Array.from(outputs[session.outputNames[0]].data);
  };
  await run(new Float32Array(shape.reduce((a, b) => a * b, 1)));
  return {
    run,
    model,
    label: `ONNX Runtime Web (${ORT_VERSION}, WebAssembly CPU)`,
    note: "ONNX has no APALU op: the ONNX export writes APALU as standard ONNX ops.",
  };
}

export const RUNTIMES = { litert: openLiteRt, onnx: openOnnx };

export async function openRuntime(name, info) {
  const open = RUNTIMES[name];
  if (!open) throw new Error(`unknown runtime ${name}; use litert or onnx`);
  return open(info);
}
