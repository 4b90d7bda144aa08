// The cluster as the API watcher holds it, and one-endpoint changes as they arrive: shared by the mode benchmarks.
import { syntheticSlice } from '@hybrid-proxy/lab';
import { convertEndpointSlice, convertService, SnapshotAssembler } from '@hybrid-proxy/model';
import { MOVED_PREFIX } from './connect-latency.js';

/**
 * Converted objects kept between events, and change `run`: an endpoint of Service 0.4 n moves to an address no
 * other endpoint has (MOVED_PREFIX, so its hairpin member really changes). A change is converted and handed to the
 * assembler the way the watcher does (setSlice), so only that Service is joined again.
 */
export function clusterEvents({ services, slices }, n, endpoints) {
  const assembler = new SnapshotAssembler();
  return {
    initial: assembler.assemble(services.map((s) => convertService(s).value), slices.map((s) => convertEndpointSlice(s).value)),
    /** Event `run`: returns the next snapshot. */
    change(run) {
      // Synthetic addresses wrap around 198.18.0.0/16 past 65,536 endpoints; Service 0.4 n's do not.
      const moved = syntheticSlice(Math.floor(n * 0.4), endpoints);
      moved.endpoints[0] = { addresses: [`${MOVED_PREFIX}.${run}`], conditions: { ready: true } };
      const slice = convertEndpointSlice(moved).value;
      assembler.setSlice(`${slice.namespace}/${slice.name}`, slice);
      return assembler.snapshot();
    },
  };
}
