import type { Application } from '../application.js';
import type { Clipper } from '../clipper.js';
import { HttpError } from './http-error.js';

type Body = Record<string, unknown>;

function field<T>(body: Body, name: string, check: (v: unknown) => v is T, what: string): T {
  const v = body[name];
  if (!check(v)) throw new HttpError(400, `"${name}" must be ${what}`);
  return v;
}
const isString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.length > 0 && v.every(isString);
const isVersion = (v: unknown): v is string | number => isString(v) || typeof v === 'number';
const isCount = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 1;
const isShare = (v: unknown): v is number => typeof v === 'number' && v > 0 && v <= 1;

/**
 * The management API, named as Clipper's (`/admin/add_app`, `/admin/add_model_links`,
 * `/admin/set_model_version`, ...) so its clients port over. Every route takes a JSON object; getters
 * also answer GET. Models are deployed in code (`clipper.deployModel`) or by hot-loading from a registry.
 */
export const ADMIN_ROUTES: Record<string, (clipper: Clipper, body: Body) => unknown | Promise<unknown>> = {
  ping: () => ({ pong: true }),
  add_app: (c, b) =>
    c.registerApplication({
      name: b.name,
      inputType: b.input_type ?? b.inputType,
      latencySloMs:
        b.latency_slo_ms ??
        b.latencySloMs ??
        (typeof b.latency_slo_micros === 'number' ? b.latency_slo_micros / 1000 : undefined),
      defaultOutput: b.default_output ?? b.defaultOutput,
      linkedModels: b.linked_models ?? b.linkedModels,
      selectionPolicy: b.selection_policy ?? b.selectionPolicy,
    } as Parameters<Clipper['registerApplication']>[0]),
  delete_app: (c, b) => {
    c.deleteApplication(field(b, 'name', isString, 'an application name'));
    return { deleted: true };
  },
  add_model_links: (c, b) => eachLink(c, b, (app, m) => c.linkModel(app, m)),
  delete_model_links: (c, b) => eachLink(c, b, (app, m) => c.unlinkModel(app, m)),
  set_model_version: (c, b) =>
    c.setServingVersion(
      field(b, 'model_name', isString, 'a model name'),
      field(b, 'model_version', isVersion, 'a version'),
    ),
  // A live canary: a share of the model's traffic to another deployed version (KServe's canaryTrafficPercent).
  set_canary: (c, b) =>
    c.setCanary(
      field(b, 'model_name', isString, 'a model name'),
      field(b, 'model_version', isVersion, 'a version'),
      field(b, 'share', isShare, 'a number in (0, 1]'),
    ),
  clear_canary: (c, b) => c.clearCanary(field(b, 'model_name', isString, 'a model name')),
  set_num_replicas: (c, b) => {
    const name = field(b, 'model_name', isString, 'a model name');
    const version = isVersion(b.model_version) ? b.model_version : c.getModel(name).servingVersion;
    if (version === undefined) throw new HttpError(409, `model ${name} has no serving version`);
    return c.scaleModel(name, version, field(b, 'num_replicas', isCount, 'an integer ≥ 1'));
  },
  get_all_applications: (c) => c.listApplications(),
  get_application: (c, b) => c.getApplication(field(b, 'name', isString, 'an application name')),
  get_linked_models: (c, b) =>
    c.getApplication(field(b, 'app_name', isString, 'an application name')).linkedModels,
  get_all_models: (c) => c.listModels(),
  get_model: (c, b) => c.getModel(field(b, 'model_name', isString, 'a model name')),
};

/** Applies `change` to each of `model_names` for `app_name`; answers the application as it ends. */
function eachLink(c: Clipper, b: Body, change: (app: string, model: string) => Application): Application {
  const app = field(b, 'app_name', isString, 'an application name');
  let linked = c.getApplication(app);
  for (const m of field(b, 'model_names', isStrings, 'a non-empty array of model names'))
    linked = change(app, m);
  return linked;
}

/** Routes that only read, and so also answer GET (with query parameters as the body). */
export const ADMIN_GETTERS = new Set([
  'ping',
  'get_all_applications',
  'get_application',
  'get_linked_models',
  'get_all_models',
  'get_model',
]);
