// Runs an ONNX model with ONNX Runtime (onnxruntime-node, CPU) on one float32 input, for the
// ONNX export tests: an independent runtime, not tapegrad, computes the exported graph.
//
// usage: node run_model.js MODEL INPUT.f32 OUTPUT.f32 DIM...
//   INPUT.f32 holds the input's float32 values (little-endian, row-major) of shape DIM...;
//   OUTPUT.f32 gets the first output's values the same way, and stdout one line
//   "shape D1 D2 ...". $TAPEGRAD_ORT_MODULE is where onnxruntime-node is (default: the
//   repository's data/onnxruntime/node_modules/onnxruntime-node, which scripts/setup installs).
'use strict';
const fs = require('fs');
const path = require('path');

async function main() {
  const [model, input, output, ...dims] = process.argv.slice(2);
  if (!model || !input || !output || dims.length === 0) {
    throw new Error('usage: node run_model.js MODEL INPUT.f32 OUTPUT.f32 DIM...');
  }
  const shape = dims.map((d) => {
    const n = Number(d);
    if (!Number.isInteger(n) || n < 0) throw new Error(`dimension '${d}' is not a size`);
    return n;
  });
  const module = process.env.TAPEGRAD_ORT_MODULE ||
      path.join(__dirname, '..', '..', 'data', 'onnxruntime', 'node_modules', 'onnxruntime-node');
  const ort = require(module);

  const bytes = fs.readFileSync(input);
  const count = shape.reduce((a, b) => a * b, 1);
  if (bytes.length !== count * 4) {
    throw new Error(`${input} has ${bytes.length} bytes, not the ${count * 4} of shape ${shape}`);
  }
  // A copy: the Buffer may sit at an offset that is not a multiple of 4 in its pool.
  const data = new Float32Array(count);
  new Uint8Array(data.buffer).set(bytes);

  // One thread: reproducible sums, and no fight with the other tests for the cores.
  const session = await ort.InferenceSession.create(
      model, {intraOpNumThreads: 1, interOpNumThreads: 1, executionProviders: ['cpu']});
  const feeds = {[session.inputNames[0]]: new ort.Tensor('float32', data, shape)};
  const results = await session.run(feeds);
  const out = results[session.outputNames[0]];
  if (out.type !== 'float32') throw new Error(`output type is ${out.type}, not float32`);
  fs.writeFileSync(output, Buffer.from(out.data.buffer, out.data.byteOffset, out.data.byteLength));
  process.stdout.write(`shape ${out.dims.join(' ')}\n`);
}

main().catch((e) => {
  process.stderr.write(`run_model.js: ${e.message}\n`);
  process.exit(1);
});
