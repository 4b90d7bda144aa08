/** Mirrors bpf/include/hp_maps.h: change both together. */
export const MAP_NAMES = { vipIndex: 'hp_vip_index', vipStats: 'hp_vip_stats', backendIndex: 'hp_be_index', backendStats: 'hp_be_stats' } as const;
export const PROGRAM_NAMES = { xdp: 'hp_xdp_count', tc: 'hp_tc_count' } as const;
export const MAX_VIPS = 4096;
export const MAX_BACKENDS = 65536;
/** Slot 0 of each counter array counts lookups that missed the index. */
export const MISS_SLOT = 0;
export const FLOW_KEY_BYTES = 20;
/** struct hp_counter: packets then bytes, each a little-endian u64. */
export const COUNTER_BYTES = 16;
