// A JavaScript function that does what its input's `action` asks, for the host's tests.
import { log, config, kv, emit, Failure } from "swirl";

export async function handle(input, ctx) {
  switch (input.action) {
    case "greet": {
      console.log(`printing for ${input.name}`);
      log.warn("a warning");
      const greeting = config("GREETING", "Hello");
      // Resolved by the event loop before the call returns.
      const message = await Promise.resolve(`${greeting}, ${input.name}!`);
      return { message, function: ctx.functionName, attempt: ctx.attempt, missing: config("MISSING") ?? null };
    }
    case "count": {
      const count = kv.get("count", 0) + 1;
      kv.set("count", count);
      return count;
    }
    case "forget":
      kv.delete("count");
      return null;
    case "emit":
      emit("order.formatted", { text: "ok" }, { subject: "o-1", extensions: { tenant: "t1" } });
      return "emitted";
    case "clock":
      return { now: Date.now(), random: Math.random() };
    case "fail":
      throw new Failure("OutOfStock", "no more widgets", { sku: "w-1" });
    case "throw":
      return input.missing.field;
    case "loop":
      for (;;) {}
    case "bomb": {
      const chunks = [];
      for (;;) chunks.push(new Uint8Array(16 * 1024 * 1024).fill(1));
    }
    case "fetch":
      await fetch("http://127.0.0.1:9/");
      return "fetched";
    default:
      throw new Failure("UnknownAction", `no action ${input.action}`);
  }
}
