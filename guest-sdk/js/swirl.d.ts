// TypeScript declarations of the "swirl" module a JavaScript function imports.
// Reference this file (or copy it) beside a function written in TypeScript;
// the build takes JavaScript, so compile TypeScript to index.js first.

declare module "swirl" {
  /** Any JSON value. */
  export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

  /** What the runtime tells a function about the call it is serving. */
  export interface Context {
    /** Unique id of this invocation; appears in every log line it writes. */
    invocationId: string;
    /** Name of the function in its manifest. */
    functionName: string;
    /** Version of the function that is running (a content hash of its code). */
    functionVersion: string;
    /** Id of the workflow definition, when a workflow called the function. */
    workflowId?: string;
    /** Id of the workflow instance, when a workflow called the function. */
    instanceId?: string;
    /** Name of the workflow state whose action called the function. */
    stateName?: string;
    /** Attempt number of this action, starting at 1; retries count up. */
    attempt: number;
    /** Deadline of the call in milliseconds since the Unix epoch. */
    deadlineMs: number;
  }

  /** The function a module exports as `handle`. */
  export type Handler = (input: Json, ctx: Context) => Json | Promise<Json>;

  /** A named failure: `code` is what a workflow's `retry` and `onError` match on. */
  export class Failure extends Error {
    constructor(code: string, message: string, details?: Json);
    readonly code: string;
    readonly details?: Json;
  }

  /** Log lines attached to the current call; console output is captured too. */
  export const log: {
    trace(message: unknown): void;
    debug(message: unknown): void;
    info(message: unknown): void;
    warn(message: unknown): void;
    error(message: unknown): void;
  };

  /** The value of `key` in the function's `config` table, or `fallback`. */
  export function config(key: string): string | undefined;
  export function config(key: string, fallback: string): string;

  /** The function's durable key-value store; values are JSON. */
  export const kv: {
    get<T extends Json = Json>(key: string): T | undefined;
    get<T extends Json = Json>(key: string, fallback: T): T;
    set(key: string, value: Json): void;
    delete(key: string): void;
  };

  /** Where an emitted event comes from and what it carries besides data. */
  export interface EmitOptions {
    /** The CloudEvents `source`; defaults to `/functions/<function name>`. */
    source?: string;
    /** The CloudEvents `subject`. */
    subject?: string;
    /** Extension attributes (lower-case letters and digits in names). */
    extensions?: Record<string, string>;
  }

  /** Publishes a CloudEvent into the runtime; throws when it is refused. */
  export function emit(type: string, data?: Json, options?: EmitOptions): void;
}
