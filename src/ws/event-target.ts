/**
 * The `EventTarget` emulation of ws's `WebSocket`: `addEventListener()`, `removeEventListener()` and the
 * `onopen`/`onmessage`/`onclose`/`onerror` attributes, layered over the EventEmitter events the WebSocket
 * already emits. Each registered listener is an EventEmitter listener (a wrapper) that turns the emitter's
 * arguments into an event object and hands it to the handler:
 *
 *   emit('open')                  → Event('open')
 *   emit('message', data, binary) → MessageEvent('message', { data: binary ? data : data.toString() })
 *   emit('close', code, reason)   → CloseEvent('close', { code, reason: reason.toString(), wasClean })
 *   emit('error', error)          → ErrorEvent('error', { error, message: error.message })
 *
 * where `wasClean` is the host's `kWasClean` getter, read when 'close' is emitted.
 *
 * Other event types are ignored, as ws ignores them. Because the wrappers are ordinary listeners, events
 * reach `.on()` listeners, `addEventListener()` handlers and attribute handlers in the order they were added.
 *
 * The host (the WebSocket) provides `on`, `once`, `removeListener` and `listeners` with EventEmitter's
 * semantics (see `EmitterLike`) and the `kWasClean` getter (see `EventTargetHost`). It installs the API with
 *
 *   WebSocket.prototype.addEventListener = addEventListener;
 *   WebSocket.prototype.removeEventListener = removeEventListener;
 *   defineEventAttributes(WebSocket.prototype);
 */

/** A listener as EventEmitter types it: it takes whatever arguments its event is emitted with. */
// biome-ignore lint/suspicious/noExplicitAny: EventEmitter's listener type; narrower types would exclude it.
export type EmitterListener = (...args: any[]) => void;

/** What this module needs of the emitter behind the event target; a Node `EventEmitter` satisfies it. */
export interface EmitterLike {
  /** Adds a listener, called with `this` set to the emitter. */
  on(type: string, listener: EmitterListener): unknown;
  /** Adds a listener that is removed before its first call. */
  once(type: string, listener: EmitterListener): unknown;
  /** Removes one registration of `listener`, whether it was added with `on` or `once`. */
  removeListener(type: string, listener: EmitterListener): unknown;
  /**
   * The listeners for `type`, oldest first, each as it was passed to `on` or `once` (EventEmitter's
   * `listeners()` unwraps `once` registrations; `rawListeners()` would not do).
   */
  listeners(type: string): readonly Function[];
}

/**
 * The key of the getter that gives a 'close' event its `wasClean`: true when the closing handshake completed,
 * that is a close frame was both sent and received (ws computes `_closeFrameReceived && _closeFrameSent`).
 * It is read when 'close' is emitted.
 */
export const kWasClean: unique symbol = Symbol('wasClean');

/** The object whose prototype carries the event target API: an emitter that knows how its close went. */
export interface EventTargetHost extends EmitterLike {
  /** True when, at the time 'close' is emitted, a close frame was both sent and received. */
  readonly [kWasClean]: boolean;
}

/** The event types with an event object; `addEventListener()` ignores any other. */
export type EventType = 'open' | 'message' | 'close' | 'error';

/** What a 'message' event's `data` may be: a string for text, the host's binary form otherwise. */
export type MessageData = string | Buffer | ArrayBuffer | Buffer[] | Blob;

/** The event object each type is dispatched with, `Target` being the host. */
export interface EventObjectMap<Target> {
  open: Event<Target>;
  message: MessageEvent<Target, MessageData>;
  close: CloseEvent<Target>;
  error: ErrorEvent<Target, Error>;
}

/** A handler: a function, called with `this` the host, or an object whose `handleEvent` is called on it. */
export type Listener<E, This = unknown> =
  | ((this: This, event: E) => unknown)
  | { handleEvent(event: E): unknown };

/** The options `addEventListener()` understands. */
export interface AddEventListenerOptions {
  /** Remove the handler before its first call. */
  once?: boolean;
}

/** Sets the private target of an event; assigned by `Event`'s static block, the only code that can. */
let setTarget!: (event: Event, target: unknown) => void;

/**
 * An event: a `type` and the `target` it was dispatched on. The target is null until dispatch; events this
 * module dispatches always carry their host. Properties are read-only getters, enumerable like ws's.
 */
export class Event<Target = unknown> {
  readonly #type: string;
  #target: Target | null = null;

  static {
    setTarget = (event, target) => {
      event.#target = target;
    };
  }

  constructor(type: string) {
    this.#type = type;
  }

  get target(): Target {
    return this.#target as Target;
  }

  get type(): string {
    return this.#type;
  }
}

/** The 'close' event. Defaults: code 0, reason '', wasClean false. */
export class CloseEvent<Target = unknown> extends Event<Target> {
  readonly #code: number;
  readonly #reason: string;
  readonly #wasClean: boolean;

  constructor(type: string, init: { code?: number; reason?: string; wasClean?: boolean } = {}) {
    super(type);
    this.#code = init.code === undefined ? 0 : init.code;
    this.#reason = init.reason === undefined ? '' : init.reason;
    this.#wasClean = init.wasClean === undefined ? false : init.wasClean;
  }

  /** The close code received (1005 when the close frame had none, 1006 when there was no close frame). */
  get code(): number {
    return this.#code;
  }

  get reason(): string {
    return this.#reason;
  }

  get wasClean(): boolean {
    return this.#wasClean;
  }
}

/** The 'error' event. Defaults: error null, message ''. */
export class ErrorEvent<Target = unknown, E = unknown> extends Event<Target> {
  readonly #error: E;
  readonly #message: string;

  constructor(type: string, init: { error?: E; message?: string } = {}) {
    super(type);
    this.#error = init.error === undefined ? (null as E) : init.error;
    this.#message = init.message === undefined ? '' : init.message;
  }

  get error(): E {
    return this.#error;
  }

  get message(): string {
    return this.#message;
  }
}

/** The 'message' event. Default: data null. */
export class MessageEvent<Target = unknown, Data = unknown> extends Event<Target> {
  readonly #data: Data;

  constructor(type: string, init: { data?: Data } = {}) {
    super(type);
    this.#data = init.data === undefined ? (null as Data) : init.data;
  }

  get data(): Data {
    return this.#data;
  }
}

// Class getters are not enumerable; ws's event properties are (`for…in` lists them).
const enumerable: [object, string[]][] = [
  [Event.prototype, ['target', 'type']],
  [CloseEvent.prototype, ['code', 'reason', 'wasClean']],
  [ErrorEvent.prototype, ['error', 'message']],
  [MessageEvent.prototype, ['data']],
];
for (const [prototype, names] of enumerable) {
  for (const name of names) Object.defineProperty(prototype, name, { enumerable: true });
}

type AnyListener = Listener<never, never>;

/** What a wrapper stands for: the handler it calls, and whether an on-attribute set it. */
interface Registration {
  handler: unknown;
  forAttribute: boolean;
}

const registrations = new WeakMap<Function, Registration>();

function registrationsOf(host: EmitterLike, type: string): [Function, Registration][] {
  const found: [Function, Registration][] = [];
  for (const listener of host.listeners(type)) {
    const registration = registrations.get(listener);
    if (registration !== undefined) found.push([listener, registration]);
  }
  return found;
}

/** Calls a handler the way ws does: an object's `handleEvent` on the object, a function on the host. */
function deliver(handler: unknown, host: EventTargetHost, event: Event): void {
  setTarget(event, host);
  if (typeof handler === 'object' && (handler as { handleEvent(event: Event): unknown }).handleEvent) {
    (handler as { handleEvent(event: Event): unknown }).handleEvent(event);
  } else {
    (handler as (this: EventTargetHost, event: Event) => unknown).call(host, event);
  }
}

/** The emitter listener that dispatches `type` to `handler`, or undefined for a type without an event. */
function wrapperFor(type: string, handler: unknown): EmitterListener | undefined {
  switch (type) {
    case 'open':
      return function onOpen(this: EventTargetHost) {
        deliver(handler, this, new Event('open'));
      };
    case 'message':
      return function onMessage(
        this: EventTargetHost,
        data: Exclude<MessageData, string>,
        isBinary: boolean,
      ) {
        deliver(handler, this, new MessageEvent('message', { data: isBinary ? data : data.toString() }));
      };
    case 'close':
      return function onClose(this: EventTargetHost, code: number, reason: { toString(): string }) {
        const wasClean = this[kWasClean];
        deliver(handler, this, new CloseEvent('close', { code, reason: reason.toString(), wasClean }));
      };
    case 'error':
      return function onError(this: EventTargetHost, error: Error) {
        deliver(handler, this, new ErrorEvent('error', { error, message: error.message }));
      };
    default:
      return undefined;
  }
}

function register(
  host: EventTargetHost,
  type: string,
  handler: unknown,
  once: boolean,
  forAttribute: boolean,
): void {
  // A handler is added once per type, but an attribute's handler neither blocks nor is blocked by an
  // addEventListener() registration of the same function.
  if (!forAttribute) {
    for (const [, registration] of registrationsOf(host, type)) {
      if (registration.handler === handler && !registration.forAttribute) return;
    }
  }
  const wrapper = wrapperFor(type, handler);
  if (wrapper === undefined) return;
  registrations.set(wrapper, { handler, forAttribute });
  if (once) host.once(type, wrapper);
  else host.on(type, wrapper);
}

/**
 * Registers `handler` for `type` ('open', 'message', 'close' or 'error'; other types are ignored). The
 * handler receives an event object whose `target` is the host; a function handler is called with `this` the
 * host, an object's `handleEvent` with `this` the object. Adding a handler already added for `type` does
 * nothing.
 */
export function addEventListener<Host extends EventTargetHost, K extends EventType>(
  this: Host,
  type: K,
  handler: Listener<EventObjectMap<Host>[K], Host>,
  options?: AddEventListenerOptions,
): void;
export function addEventListener(
  this: EventTargetHost,
  type: string,
  handler: AnyListener,
  options?: AddEventListenerOptions,
): void;
export function addEventListener(
  this: EventTargetHost,
  type: string,
  handler: AnyListener,
  options?: AddEventListenerOptions,
): void {
  register(this, type, handler, Boolean(options?.once), false);
}

/**
 * Removes `handler` from `type` if `addEventListener()` added it. Listeners added with `.on()` and the
 * on-attribute's handler are left alone.
 */
export function removeEventListener<Host extends EventTargetHost, K extends EventType>(
  this: Host,
  type: K,
  handler: Listener<EventObjectMap<Host>[K], Host>,
): void;
export function removeEventListener(this: EventTargetHost, type: string, handler: AnyListener): void;
export function removeEventListener(this: EventTargetHost, type: string, handler: AnyListener): void {
  for (const [listener, registration] of registrationsOf(this, type)) {
    if (registration.handler === handler && !registration.forAttribute) {
      this.removeListener(type, listener as EmitterListener);
      return;
    }
  }
}

/**
 * Defines the `onopen`, `onmessage`, `onclose` and `onerror` accessors on `prototype` (whose instances are
 * `EventTargetHost`s). Reading one gives its handler or null. Setting one removes the previous handler and,
 * if the value is a function, adds it at the end of the listeners (any other value leaves the attribute
 * null). The host class declares them for its type, e.g.
 * `declare onopen: ((this: WebSocket, event: Event<WebSocket>) => unknown) | null`.
 */
export function defineEventAttributes(prototype: object): void {
  for (const type of ['open', 'error', 'close', 'message'] satisfies EventType[]) {
    Object.defineProperty(prototype, `on${type}`, {
      configurable: true,
      enumerable: true,
      get(this: EventTargetHost): unknown {
        for (const [, registration] of registrationsOf(this, type)) {
          if (registration.forAttribute) return registration.handler;
        }
        return null;
      },
      set(this: EventTargetHost, handler: unknown) {
        for (const [listener, registration] of registrationsOf(this, type)) {
          if (registration.forAttribute) {
            this.removeListener(type, listener as EmitterListener);
            break;
          }
        }
        if (typeof handler === 'function') register(this, type, handler, false, true);
      },
    });
  }
}
