import { ConfigError } from '@geoml/core';
import type { Application } from './application.js';
import type { InputType } from './config.js';
import type { Deployments } from './deployments.js';
import { ServingError } from './serving-error.js';

/**
 * The registered applications and their links to deployed models. Every application is frozen: a change
 * (link, unlink) replaces it, so a query in flight keeps the application it started with.
 */
export class Applications {
  private readonly apps = new Map<string, Application>();

  constructor(private readonly models: Deployments) {}

  /** Adds a parsed application; its linked models must be deployed and take its kind of input. */
  add(app: Application): Application {
    if (this.apps.has(app.name)) {
      throw new ServingError('ALREADY_EXISTS', `application ${app.name} is already registered`);
    }
    for (const model of app.linkedModels) this.checkLink(app, model);
    const frozen = freezeApp({ ...app, linkedModels: [...new Set(app.linkedModels)] });
    this.apps.set(app.name, frozen);
    return frozen;
  }

  get(name: string): Application {
    const app = this.apps.get(name);
    if (!app) throw new ServingError('UNKNOWN_APPLICATION', `no application named ${JSON.stringify(name)}`);
    return app;
  }

  list(): Application[] {
    return [...this.apps.values()];
  }

  delete(name: string): void {
    this.get(name);
    this.apps.delete(name);
  }

  link(appName: string, model: string): Application {
    const app = this.get(appName);
    this.checkLink(app, model);
    if (app.linkedModels.includes(model)) return app;
    const linked = freezeApp({ ...app, linkedModels: [...app.linkedModels, model] });
    this.apps.set(appName, linked);
    return linked;
  }

  unlink(appName: string, model: string): Application {
    const app = this.get(appName);
    const unlinked = freezeApp({ ...app, linkedModels: app.linkedModels.filter((m) => m !== model) });
    this.apps.set(appName, unlinked);
    return unlinked;
  }

  /** Refuses a new version of `model` taking another kind of input than an application linked to it. */
  checkVersion(model: string, version: string, inputType: InputType | undefined): void {
    for (const app of this.apps.values()) {
      if (app.linkedModels.includes(model)) checkTypes(app, model, version, inputType);
    }
  }

  private checkLink(app: Application, model: string): void {
    if (!this.models.has(model)) {
      throw new ServingError('UNKNOWN_MODEL', `no model named ${JSON.stringify(model)} is deployed`);
    }
    for (const s of this.models.versionsOf(model)) checkTypes(app, model, s.version, s.deployment.inputType);
  }
}

/** Refuses a link between an application and a model version that takes another kind of input. */
function checkTypes(
  app: Application,
  model: string,
  version: string,
  inputType: InputType | undefined,
): void {
  if (inputType && inputType !== app.inputType) {
    throw new ConfigError(
      `invalid model link: inputType: model ${model}:${version} takes ${inputType}, ` +
        `application ${app.name} sends ${app.inputType}`,
      ['inputType'],
    );
  }
}

function freezeApp(app: Application): Application {
  return Object.freeze({ ...app, linkedModels: Object.freeze([...app.linkedModels]) as string[] });
}
