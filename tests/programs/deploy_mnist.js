// Helpers of deploy_mnist.sh, in Node because ONNX Runtime's check needs Node anyway.
//
//   node deploy_mnist.js pixels IMAGES.idx OUT.f32
//     The IDX images' raw pixel values 0..255 as float32 (little-endian, image after image),
//     the input the exported graph takes; prints "images N rows R cols C".
//   node deploy_mnist.js compare LABELS.idx TAPEGRAD.f32 ORT.f32 CLASSES COMPARED TOLERANCE
//     TAPEGRAD.f32 and ORT.f32 hold N x CLASSES probabilities (tapegrad-predict
//     --probabilities and the graph run by ONNX Runtime). Prints ONNX Runtime's accuracy
//     against the labels as "accuracy=A (N images)" (tapegrad-predict's format), then
//     "argmax_differences=K max_abs_diff=D (first COMPARED images)"; exit 1 when K > 0 or
//     D > TOLERANCE.
'use strict';
const fs = require('fs');
const zlib = require('zlib');

function readIdx(path, magic) {
  let bytes = fs.readFileSync(path);
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = zlib.gunzipSync(bytes);
  if (bytes.length < 4 || bytes.readUInt32BE(0) !== magic) {
    throw new Error(`${path}: byte 0: not an IDX file with magic 0x${magic.toString(16)}`);
  }
  const rank = magic & 0xff;
  const dims = [];
  for (let i = 0; i < rank; ++i) dims.push(bytes.readUInt32BE(4 + 4 * i));
  const data = bytes.subarray(4 + 4 * rank);
  if (data.length !== dims.reduce((a, b) => a * b, 1)) {
    throw new Error(`${path}: ${data.length} data bytes for dimensions ${dims.join(' x ')}`);
  }
  return {dims, data};
}

function readFloats(path, count) {
  const bytes = fs.readFileSync(path);
  if (bytes.length !== count * 4) {
    throw new Error(`${path} has ${bytes.length} bytes, not the ${count * 4} of ${count} floats`);
  }
  const values = new Float32Array(count);  // a copy: the Buffer may be unaligned in its pool
  new Uint8Array(values.buffer).set(bytes);
  return values;
}

function argmax(values, row, width) {
  let best = 0;  // the first of the highest, as tapegrad-predict
  for (let j = 1; j < width; ++j) {
    if (values[row * width + j] > values[row * width + best]) best = j;
  }
  return best;
}

function pixels(imagesPath, outPath) {
  const {dims, data} = readIdx(imagesPath, 0x803);
  fs.writeFileSync(outPath, Buffer.from(Float32Array.from(data).buffer));
  process.stdout.write(`images ${dims[0]} rows ${dims[1]} cols ${dims[2]}\n`);
}

function compare(labelsPath, tapegradPath, ortPath, classesArg, comparedArg, toleranceArg) {
  const labels = readIdx(labelsPath, 0x801).data;
  const n = labels.length;
  const classes = Number(classesArg), compared = Math.min(Number(comparedArg), n);
  const tolerance = Number(toleranceArg);
  const tapegrad = readFloats(tapegradPath, n * classes);
  const ort = readFloats(ortPath, n * classes);
  let correct = 0, argmaxDifferences = 0, maxDiff = 0;
  for (let i = 0; i < n; ++i) {
    const predicted = argmax(ort, i, classes);
    if (predicted === labels[i]) ++correct;
    if (predicted !== argmax(tapegrad, i, classes)) {
      if (argmaxDifferences++ < 5) {
        process.stdout.write(
            `image ${i + 1}: ONNX Runtime class ${predicted}, tapegrad ` +
            `${argmax(tapegrad, i, classes)}\n`);
      }
    }
    if (i < compared) {
      for (let j = 0; j < classes; ++j) {
        const d = Math.abs(ort[i * classes + j] - tapegrad[i * classes + j]);
        if (!(d <= maxDiff)) maxDiff = d;  // NaN sticks
      }
    }
  }
  process.stdout.write(`accuracy=${(correct / n).toFixed(4)} (${n} images)\n`);
  process.stdout.write(
      `argmax_differences=${argmaxDifferences} max_abs_diff=${maxDiff} ` +
      `(first ${compared} images)\n`);
  if (argmaxDifferences > 0 || !(maxDiff <= tolerance)) process.exit(1);
}

try {
  const [command, ...args] = process.argv.slice(2);
  if (command === 'pixels' && args.length === 2) {
    pixels(...args);
  } else if (command === 'compare' && args.length === 6) {
    compare(...args);
  } else {
    throw new Error('usage: pixels IMAGES OUT.f32 | compare LABELS TAPEGRAD ORT CLASSES N TOL');
  }
} catch (e) {
  process.stderr.write(`deploy_mnist.js: ${e.message}\n`);
  process.exit(1);
}
