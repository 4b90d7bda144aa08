// nx release's changelog renderer, with one repair. nx reads a conventional subject's scope greedily, up to the
// last "): " in it, so "perf(model): O(changed): x" comes out as scope "model): O(changed" and description "x".
// The scope ends at the first "): ": this splits it there again, and the default renderer does the rest.
const DefaultChangelogRenderer = require('nx/release/changelog-renderer').default;

/** A change whose scope swallowed part of its subject, mended; any other change as it is. */
function mendScope(change) {
  const cut = typeof change.scope === 'string' ? change.scope.indexOf('): ') : -1;
  if (cut < 0) return change;
  return { ...change, scope: change.scope.slice(0, cut), description: `${change.scope.slice(cut + 3)}): ${change.description}` };
}

class ChangelogRenderer extends DefaultChangelogRenderer {
  constructor(config) {
    super({ ...config, changes: config.changes.map(mendScope) });
  }
}

module.exports = ChangelogRenderer;
module.exports.mendScope = mendScope;
