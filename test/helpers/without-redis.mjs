// Preloaded with `--import`: the process resolves modules as if the 'redis' package were not installed,
// whatever node_modules directories the file system holds above it.
import * as module from 'node:module';

function hidden(specifier) {
  return specifier === 'redis' || specifier.startsWith('redis/');
}

function notFound(specifier, parentURL) {
  const error = new Error(`Cannot find package '${specifier}' imported from ${parentURL}`);
  error.code = 'ERR_MODULE_NOT_FOUND';
  return error;
}

if (typeof module.registerHooks === 'function') {
  // In-thread hooks (Node 22.15 and later); module.register() is deprecated from Node 26.
  module.registerHooks({
    resolve(specifier, context, next) {
      if (hidden(specifier)) throw notFound(specifier, context.parentURL);
      return next(specifier, context);
    },
  });
} else {
  const hooks = `
const hidden = ${hidden.toString()};
const notFound = ${notFound.toString()};
export async function resolve(specifier, context, next) {
  if (hidden(specifier)) throw notFound(specifier, context.parentURL);
  return next(specifier, context);
}`;
  module.register(`data:text/javascript,${encodeURIComponent(hooks)}`);
}
