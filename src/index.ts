// tslay: public exports only. Each layer is also importable on its own: `tslay/core`, `tslay/event`.
export * from './core/index.ts';
