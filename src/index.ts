// tslay: public exports only. Each layer is also importable on its own: `tslay/core`, `tslay/event`, `tslay/node`.
export * from './core/index.ts';
export * as event from './event/index.ts';
export * from './node/index.ts';
export * from './service/index.ts';
