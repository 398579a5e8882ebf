// Runs a TensorFlow.js graph model (model.json + shards) on images, in node with tfjs's pure-JavaScript CPU
// backend: the original runtime that scripts/convert/movenet.py checks its ONNX files against.
//   node scripts/convert/tfjs_reference.cjs MODEL_JSON IMAGES_U8 B H W OUT_F32
// IMAGES_U8: B*H*W*3 uint8 RGB, fed one at a time as the model's int32 (1, H, W, 3) input.
// OUT_F32: the model's single output per image, concatenated, float32 little-endian.
// Modules come from .cache/tfjs-runner (scripts/convert/setup_venv.sh installs them there).
const fs = require('fs');
const path = require('path');
const runner = path.resolve(__dirname, '../../.cache/tfjs-runner/node_modules');
const tf = require(path.join(runner, '@tensorflow/tfjs-core'));
require(path.join(runner, '@tensorflow/tfjs-backend-cpu'));
const converter = require(path.join(runner, '@tensorflow/tfjs-converter'));

async function main() {
  const [modelJson, imagesPath, b, h, w, outPath] = process.argv.slice(2);
  const [B, H, W] = [b, h, w].map(Number);
  const model = JSON.parse(fs.readFileSync(modelJson));
  const specs = [];
  const shards = [];
  for (const group of model.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) shards.push(fs.readFileSync(path.join(path.dirname(modelJson), p)));
  }
  const data = Buffer.concat(shards);
  const weightData = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
  const handler = { load: async () => ({ modelTopology: model.modelTopology, weightSpecs: specs, weightData,
    format: model.format, generatedBy: model.generatedBy, convertedBy: model.convertedBy, signature: model.signature }) };
  await tf.setBackend('cpu');
  const graph = await converter.loadGraphModel(handler);
  const pixels = new Uint8Array(fs.readFileSync(imagesPath));
  const outputs = [];
  for (let i = 0; i < B; i++) {
    const slice = Int32Array.from(pixels.subarray(i * H * W * 3, (i + 1) * H * W * 3));
    const input = tf.tensor4d(slice, [1, H, W, 3], 'int32');
    const out = graph.execute(input);
    outputs.push(Float32Array.from(await out.data()));
    tf.dispose([input, out]);
  }
  const total = outputs.reduce((n, a) => n + a.length, 0);
  const all = new Float32Array(total);
  let offset = 0;
  for (const a of outputs) { all.set(a, offset); offset += a.length; }
  fs.writeFileSync(outPath, Buffer.from(all.buffer));
}
main().catch((err) => { console.error(err); process.exit(1); });
