// What the host calls on an agent (`caxton:agent/guest`): an `Agent` whose
// methods the exports in `exports.ts` call. Register one with `register`.
import { Message, Performative } from "./message";

/** A service an agent offers, as registered in the host's directory. */
export class Service {
  constructor(public name: string, public description: string) {}
}

/** What an agent declares about itself when it is deployed (`agent-profile`). */
export class Profile {
  version: string = "0.1.0";
  performatives: Performative[] = [Performative.Request];
  protocols: string[] = ["fipa-request"];
  ontologies: string[] = [];
  services: Service[] = [];
}

/**
 * An agent. Override what it does; every method that returns `string | null`
 * returns `null` when it went well, else the error: from `handleMessage` the
 * host sends it to the sender in a `failure`; from `init` it aborts the deploy.
 */
export class Agent {
  /** Called once after instantiation, before any message. */
  init(): string | null {
    return null;
  }

  /** Handle one message. */
  handleMessage(msg: Message): string | null {
    return "this agent does not handle messages: override handleMessage, and call register(new YourAgent()) at the top level of app.ts";
  }

  /** Handle a timer set with `setTimer`. */
  handleTimer(id: u64): string | null {
    return null;
  }

  /** Called before the agent is removed or the host stops. */
  shutdown(): void {}

  /** Describe the agent for the directory; called once at deploy. */
  capabilities(): Profile {
    return new Profile();
  }
}

let registered: Agent = new Agent();

/** Make `agent` the one the host calls (at the top level of the agent's module). */
export function register(agent: Agent): void {
  registered = agent;
}

/** The registered agent. */
export function current(): Agent {
  return registered;
}
