// The component's export: the world's `handle`, calling the function's own.
import { handle as functionHandle } from "swirl-function";
import { run } from "swirl";

export function handle(ctx, input) {
  return run(functionHandle, ctx, input);
}
