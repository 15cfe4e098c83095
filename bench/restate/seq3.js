// The benchmark's 3-step workflow (bench/app/seq3.json) as a Restate
// service, for bench/peer.sh: three steps, each {"n": k} -> {"n": k + 1},
// each in its own ctx.run, so that each step's result is journaled durably
// before the next runs, as swirl commits each step before the next.
//
// Invoked through Restate's ingress with POST /seq3/run and the body
// {"n": 0}; the answer is the handler's result, {"n": 3}.
//
// Serves the SDK's endpoint over HTTP/2 (h2c) on PORT and prints
// "listening on <port>" once it does.

import * as restate from "@restatedev/restate-sdk";

// The same work as the swirl function bench/functions/step.
function step(counter) {
  return { n: (counter.n ?? 0) + 1 };
}

const seq3 = restate.service({
  name: "seq3",
  handlers: {
    run: async (ctx, input) => {
      const one = await ctx.run("one", () => step(input));
      const two = await ctx.run("two", () => step(one));
      return ctx.run("three", () => step(two));
    },
  },
});

const port = await restate.serve({
  services: [seq3],
  port: Number(process.env.PORT ?? 9080),
});
console.log(`listening on ${port}`);
