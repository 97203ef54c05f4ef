// The core exports of the `caxton:agent/guest` interface. An agent module
// re-exports them (`export * from "./caxton/exports"`); `caxton build` gives
// them their component-model names (`caxton_handle_message` becomes
// `caxton:agent/guest@0.1.0#handle-message`, `caxton_post_return` each
// `cabi_post_…`) and wraps the module as a component.
import { Lent } from "./abi";
import { current, Profile } from "./guest";
import { liftMessage } from "./message";

export { cabi_realloc } from "./abi";

// Results of the export in flight, freed by `caxton_post_return`.
const RET: usize = memory.data(48, 8);
const results = new Lent();

/** A `result<_, string>` in the return area. */
function outcome(error: string | null): usize {
  if (error === null) {
    store<u8>(RET, 0);
  } else {
    store<u8>(RET, 1);
    results.string(RET + 4, error);
  }
  return RET;
}

export function caxton_init(): usize {
  return outcome(current().init());
}

export function caxton_handle_message(msg: usize): usize {
  return outcome(current().handleMessage(liftMessage(msg)));
}

export function caxton_handle_timer(id: u64): usize {
  return outcome(current().handleTimer(id));
}

export function caxton_shutdown(): void {
  current().shutdown();
}

export function caxton_capabilities(): usize {
  const profile: Profile = current().capabilities();
  results.string(RET, profile.version);
  const acts = results.alloc(<usize>profile.performatives.length);
  for (let i = 0; i < profile.performatives.length; i++) store<u8>(acts + <usize>i, <u8>profile.performatives[i]);
  store<u32>(RET, <u32>acts, 8);
  store<u32>(RET, <u32>profile.performatives.length, 12);
  results.strings(RET + 16, profile.protocols);
  results.strings(RET + 24, profile.ontologies);
  const services = results.alloc(<usize>profile.services.length * 16);
  for (let i = 0; i < profile.services.length; i++) {
    const service = profile.services[i];
    results.string(services + <usize>i * 16, service.name);
    results.string(services + <usize>i * 16 + 8, service.description);
  }
  store<u32>(RET, <u32>services, 32);
  store<u32>(RET, <u32>profile.services.length, 36);
  return RET;
}

/** After the host has read an export's results: free them. */
export function caxton_post_return(ret: usize): void {
  results.free();
}
