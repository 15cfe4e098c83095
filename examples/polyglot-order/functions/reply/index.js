// The polyglot-order example's JavaScript step: the reply to the customer,
// `{"customer", "total", "tier"}` → `{"reply": {"text": ...}}`.
import { config, log } from "swirl";

export function handle(input) {
  const currency = config("CURRENCY", "EUR");
  const amount = `${input.total.toFixed(2)} ${currency}`;
  const thanks = input.tier === "gold" ? " Thank you for being a gold customer!" : "";
  log.info(`replying to ${input.customer}`);
  return { reply: { text: `Dear ${input.customer}, your order of ${amount} is confirmed.${thanks}` } };
}
