// swirl's guest SDK for JavaScript: the module "swirl" a function imports.
//
// A function is an ES module (index.js) that exports `handle(input, ctx)`,
// sync or async; `build.mjs` bundles it with this module and builds the
// component with componentize-js. See README.md beside this file.

import * as host from "swirl:function/host@0.1.0";
import * as store from "swirl:function/kv@0.1.0";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const INVALID_PARAMETER = "SYS.InvalidParameter";
const FAIL = "SYS.Fail";

/** A named failure of the call: `code` is what workflows match on. */
export class Failure extends Error {
  constructor(code, message, details) {
    super(message);
    this.name = "Failure";
    this.code = code;
    this.details = details;
  }
}

function write(level, message) {
  host.log(level, String(message));
}

/** Log lines attached to the current call; console output is captured too. */
export const log = {
  trace: (message) => write("trace", message),
  debug: (message) => write("debug", message),
  info: (message) => write("info", message),
  warn: (message) => write("warn", message),
  error: (message) => write("error", message),
};

/** The value of `key` in the function's `config` table, or `fallback`. */
export function config(key, fallback = undefined) {
  const value = host.config(key);
  return value === undefined ? fallback : value;
}

function encode(value) {
  return encoder.encode(JSON.stringify(value === undefined ? null : value));
}

/** The function's durable key-value store; values are JSON. */
export const kv = {
  get(key, fallback = undefined) {
    const raw = store.get(key);
    return raw === undefined ? fallback : JSON.parse(decoder.decode(raw));
  },
  set(key, value) {
    store.set(key, encode(value));
  },
  delete(key) {
    store["delete"](key);
  },
};

let current;

/**
 * Publishes a CloudEvent; throws when the runtime refuses it. `source`
 * defaults to `/functions/<function name>`.
 */
export function emit(type, data = undefined, options = {}) {
  const source = options.source ?? `/functions/${current?.functionName ?? "unknown"}`;
  try {
    host.emit({
      type,
      source,
      subject: options.subject,
      data: data === undefined ? undefined : encode(data),
      extensions: Object.entries(options.extensions ?? {}),
    });
  } catch (error) {
    throw new Error(`emit refused: ${error?.payload ?? error}`);
  }
}

function failure(code, message, details) {
  return {
    code: String(code),
    message: String(message),
    details: details === undefined ? undefined : encode(details),
  };
}

function describe(error) {
  if (error instanceof Error) {
    return error.message ? `${error.name}: ${error.message}` : error.name;
  }
  return `thrown value ${JSON.stringify(error) ?? String(error)}`;
}

/** What a thrown value becomes: the failure record of the call. */
function failureOf(error) {
  if (error instanceof Failure) {
    return failure(error.code, error.message, error.details);
  }
  return failure(FAIL, `uncaught ${describe(error)}`);
}

/**
 * Runs the function's `handle` for one call of the world's export: decodes
 * the input, encodes the output, and turns what it throws into a failure
 * record, which componentize-js returns as the result's error. A `handle`
 * that returns a promise (async) is answered when it settles; one that
 * does not is answered at once, without a turn of the event loop.
 */
export function run(handle, ctx, input) {
  let value;
  try {
    value = JSON.parse(decoder.decode(input));
  } catch (error) {
    throw failure(INVALID_PARAMETER, `the input is not JSON: ${error.message}`);
  }
  current = ctx;
  const context = { ...ctx, deadlineMs: Number(ctx.deadlineMs) };
  let result;
  try {
    result = handle(value, context);
  } catch (error) {
    current = undefined;
    throw failureOf(error);
  }
  if (typeof result?.then !== "function") {
    current = undefined;
    return encode(result);
  }
  return result.then(
    (settled) => {
      current = undefined;
      return encode(settled);
    },
    (error) => {
      current = undefined;
      throw failureOf(error);
    },
  );
}
