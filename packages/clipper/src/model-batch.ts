import type { Predictor, Tensor } from '@geoml/core';
import type { Task } from './query.js';
import { type Rows, rowOf, stackOutputs } from './rows.js';
import { type InputSpec, stackQueries, unstackQueries } from './stack.js';

/**
 * A predictor that also runs batches already stacked (`OnnxPredictor`): the serving core then copies each
 * query's rows once into the model batch and hands back views of the outputs, a multi-row query's rows
 * never split into per-row records.
 */
export interface StackedPredictor extends Predictor {
  /** The model's inputs, per row (checked while stacking). */
  readonly inputs: readonly InputSpec[];
  predictStacked(stacked: Record<string, Tensor>, rows: number): Promise<Record<string, Tensor>>;
}

/**
 * Whether batches go to `predictStacked`: only when the class that defines it also defines the `predict`
 * in use. A subclass overriding `predict` alone (a wrapper, a test double) changes what a batch does, so
 * it is served through its `predict`, row by row.
 */
function isStacked(p: Predictor): p is StackedPredictor {
  if (typeof (p as Partial<StackedPredictor>).predictStacked !== 'function') return false;
  let owner: object | null = p;
  while (owner && !Object.hasOwn(owner, 'predictStacked')) owner = Object.getPrototypeOf(owner);
  return owner !== null && (owner as Predictor).predict === p.predict;
}

/**
 * Runs one batch of queries on a replica: one output per task, in order, or a rejection as the predictor
 * gave it (or `BAD_INPUT` from stacking, `BAD_OUTPUT` for outputs that do not fit the batch). A task's
 * output is the model's answer to its input: one query's output, or a multi-row query's rows (`Rows`).
 *
 * A stacked predictor gets every task's rows in one model batch. Another predictor gets one input per
 * row, as before multi-row queries existed: a multi-row task's rows as views, its rows' outputs stacked
 * back (which needs tensor outputs).
 */
export async function runModelBatch(predictor: Predictor, batch: readonly Task[]): Promise<unknown[]> {
  let rows = 0;
  let multi = false;
  for (const task of batch) {
    if (task.rows !== undefined) multi = true;
    rows += task.rows ?? 1;
  }
  if (isStacked(predictor)) {
    const stacked = stackQueries(batch, rows, predictor.inputs);
    return unstackQueries(await predictor.predictStacked(stacked, rows), batch, rows);
  }
  if (!multi) return checked(await predictor.predict(batch.map((t) => t.input)), batch.length);
  const inputs: unknown[] = [];
  for (const task of batch) {
    if (task.rows === undefined) inputs.push(task.input);
    else for (let r = 0; r < task.rows; r++) inputs.push(rowOf(task.input as Rows, r));
  }
  const outputs = checked(await predictor.predict(inputs), rows);
  const answers: unknown[] = [];
  let row = 0;
  for (const task of batch) {
    const n = task.rows ?? 1;
    answers.push(task.rows === undefined ? outputs[row] : stackOutputs(outputs.slice(row, row + n)));
    row += n;
  }
  return answers;
}

function checked(result: unknown, expected: number): unknown[] {
  if (Array.isArray(result) && result.length === expected) return result;
  const got = Array.isArray(result) ? `${result.length} outputs` : typeof result;
  throw new Error(`returned ${got} for a batch of ${expected}`);
}
