/**
 * The worker's source, plain CommonJS run with `new Worker(ONNX_WORKER_SOURCE, { eval: true })`. A string
 * rather than a file because the same code must start from TypeScript sources (vitest, tsx), where Node 20
 * cannot load a `.ts` worker, and from the bundled dist. `workerData.ortPath` is onnxruntime-node's
 * resolved entry, found on the main thread.
 *
 * Priority: with `workerData.background` the thread lowers its own nice value (Linux keeps one per thread)
 * to 19 before importing onnxruntime, so booting, creating a session, warming up and releasing one yield
 * the cores to the serving threads; the main thread raises it back before it serves (or, where it cannot,
 * a `priority` message does), and it exits at its normal priority (the main thread joins an exiting
 * thread). Raising needs CAP_SYS_NICE or an
 * RLIMIT_NICE that allows it, so without either the thread never lowers itself (a model that could not
 * be raised back would serve at the lowest priority).
 */
export const ONNX_WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const os = require('node:os');
const fs = require('node:fs');
const crypto = require('node:crypto');
let session;
let ort;
let ortError;

// This thread's kernel id ('<pid>/task/<tid>'), for a per-thread nice value; undefined off Linux.
let tid;
try {
  tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
  if (!Number.isInteger(tid) || tid <= 0) tid = undefined;
} catch {
  tid = undefined;
}

// Raising a nice value back needs CAP_SYS_NICE (bit 23 of CapEff) or RLIMIT_NICE ≥ 20 - target.
function canRaise(target) {
  try {
    const status = fs.readFileSync('/proc/self/status', 'utf8');
    const cap = /^CapEff:\\s*([0-9a-f]+)/m.exec(status);
    if (cap && (BigInt('0x' + cap[1]) >> 23n) & 1n) return true;
    const limits = fs.readFileSync('/proc/self/limits', 'utf8');
    const nice = /^Max nice priority\\s+(\\S+)/m.exec(limits);
    return Boolean(nice) && (nice[1] === 'unlimited' || Number(nice[1]) >= 20 - target);
  } catch {
    return false;
  }
}

let baseNice = 0;
let background = false;
function setNice(value) {
  try {
    os.setPriority(tid, value);
    return true;
  } catch {
    return false;
  }
}
if (workerData.background && tid !== undefined) {
  try {
    baseNice = os.getPriority(tid);
    background = baseNice < 19 && canRaise(baseNice) && setNice(19);
  } catch {
    background = false;
  }
}
parentPort.postMessage({ type: 'ready', tid, background, baseNice });

try {
  ort = require(workerData.ortPath);
} catch (err) {
  // Reported as a failed load (not a crash, which would be retried in vain).
  ortError = err;
}

function message(err) {
  return err && err.message ? String(err.message) : String(err);
}

function meta(list) {
  return (list || []).map((m) => ({ name: m.name, isTensor: m.isTensor, type: m.type, shape: m.shape }));
}

const DTYPES = ['float32', 'float64', 'int32', 'int8', 'uint8', 'int64', 'bool'];

// A model the container cannot batch is refused at load, so it never replaces a working session.
function unsupported(next) {
  if (!next.inputMetadata || next.inputMetadata.length === 0) return 'the model has no inputs to batch';
  for (const [kind, list] of [['input', next.inputMetadata], ['output', next.outputMetadata]]) {
    for (const m of list || []) {
      if (!m.isTensor || !DTYPES.includes(m.type)) return kind + " '" + m.name + "' has unsupported type " + (m.type || 'non-tensor');
      if (!Array.isArray(m.shape) || m.shape.length < 1) return kind + " '" + m.name + "' has no batch dimension";
    }
  }
  return undefined;
}

// The model as this thread builds from it: shared memory is copied into a buffer of its own first, so
// the bytes hashed are the bytes built from and nobody can change them in between. Undefined when the
// bytes do not hash to msg.sha256 (a mismatch has been reported then).
function ownModel(msg) {
  let model = msg.model;
  if (typeof model === 'string') return model;
  if (model.buffer instanceof SharedArrayBuffer) {
    const own = new Uint8Array(model.byteLength);
    own.set(model);
    model = own;
  }
  if (msg.sha256 === undefined) return model;
  const actual = crypto.createHash('sha256').update(model).digest('hex');
  if (actual === msg.sha256) return model;
  parentPort.postMessage({
    type: 'load-failed',
    code: 'HASH_MISMATCH',
    message: 'the model has sha256 ' + actual + ' (' + model.byteLength + ' bytes), expected ' + msg.sha256,
  });
  return undefined;
}

async function load(msg) {
  try {
    if (ortError) throw new Error('onnxruntime-node could not be loaded: ' + message(ortError));
    const model = ownModel(msg);
    if (model === undefined) return;
    const next = await ort.InferenceSession.create(model, msg.options);
    const problem = unsupported(next);
    if (problem) {
      await next.release();
      throw new Error(problem);
    }
    const previous = session;
    session = next;
    if (previous) await previous.release().catch(() => undefined);
    parentPort.postMessage({ type: 'loaded', inputs: meta(session.inputMetadata), outputs: meta(session.outputMetadata) });
  } catch (err) {
    parentPort.postMessage({ type: 'load-failed', message: message(err) });
  }
}

async function run(msg) {
  try {
    if (!session) throw new Error('no model loaded');
    const feeds = {};
    for (const name of Object.keys(msg.feeds)) {
      const t = msg.feeds[name];
      feeds[name] = new ort.Tensor(t.dtype, t.data, t.dims);
    }
    if (msg.crash === 'exit') process.exit(70);
    if (msg.crash === 'oom') {
      // Grows the JS heap until the worker's resourceLimits stop it (bounded for a worker without limits).
      const hog = [];
      for (let i = 0; i < 1e5; i++) hog.push(new Array(1e6).fill(i));
    }
    if (msg.crash === 'throw') {
      setImmediate(() => {
        throw new Error('test crash');
      });
      return;
    }
    const results = await session.run(feeds);
    const outputs = {};
    const transfer = [];
    for (const name of Object.keys(results)) {
      const t = results[name];
      let data = t.data;
      // onnxruntime hands back one fresh buffer per output; copy only if it is ever shared or offset.
      if (data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength || transfer.includes(data.buffer)) {
        data = data.slice();
      }
      transfer.push(data.buffer);
      outputs[name] = { dtype: t.type, dims: Array.from(t.dims, Number), data };
    }
    parentPort.postMessage({ type: 'result', id: msg.id, outputs }, transfer);
  } catch (err) {
    parentPort.postMessage({ type: 'run-failed', id: msg.id, message: message(err) });
  }
}

// Back to an idle thread with onnxruntime loaded, ready for another model (a pool's spare).
async function release() {
  if (background) setNice(19);
  const previous = session;
  session = undefined;
  if (previous) await previous.release().catch(() => undefined);
  parentPort.postMessage({ type: 'released' });
}

// Loads and runs are handled one at a time, in order, so a load never overlaps a run.
let chain = Promise.resolve();
parentPort.on('message', (msg) => {
  if (!msg || typeof msg !== 'object') return;
  if (msg.type === 'priority') {
    // Handled at once, not chained: it arrives before the batch it must speed up.
    if (background) setNice(msg.serving ? baseNice : 19);
    return;
  }
  if (msg.type === 'exit') {
    // Exits at normal priority: the main thread joins this thread when it ends, and would wait for a
    // teardown starved at nice 19 (a 150 ms stall of the serving thread was seen).
    if (background) setNice(baseNice);
    // A message handler only runs while no native call is on this thread's stack, so this is a safe point
    // to stop. Terminating the thread from outside during session.run aborts the whole process instead.
    try {
      if (session) session.release();
    } catch {
      // Exiting frees the rest.
    }
    process.exit(0);
  }
  chain = chain.then(() =>
    msg.type === 'load' ? load(msg) : msg.type === 'run' ? run(msg) : msg.type === 'release' ? release() : undefined,
  );
});
`;
