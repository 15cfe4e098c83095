// Greets whoever the input names, with the greeting the manifest configures.
import { log, config, Failure } from "swirl";

export function handle(input, ctx) {
  const name = input?.name;
  if (typeof name !== "string" || name.trim() === "") {
    throw new Failure("EmptyName", "the input's 'name' is empty; say who to greet");
  }
  log.info(`greeting ${name}`);
  return { message: `${config("GREETING", "Hello")}, ${name}!` };
}
