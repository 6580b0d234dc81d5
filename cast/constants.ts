// Defaults, each with the reason for its value.

/** udpcast's default: receivers on 9000, the sender on 9001. */
export const DEFAULT_PORTBASE = 9000;

/** 1456 + 16-byte header + 28 bytes IP/UDP = a 1500-byte packet: no fragmentation. */
export const DEFAULT_BLOCK_SIZE = 1456;

/**
 * Receive buffer we ask for. udpcast's 208 KB default overflows when a receiver is
 * descheduled for a few ms, which costs retransmissions even without loss (docs/cast.md,
 * Where it differs from udpcast); 8 MiB holds two full slices. The kernel caps it at
 * net.core.rmem_max.
 */
export const DEFAULT_RCVBUF_BYTES = 8 * 1024 * 1024;

/** Send buffer: deep enough that a burst of one slice never blocks the event loop. */
export const DEFAULT_SNDBUF_BYTES = 4 * 1024 * 1024;

/** Kernel memory charged per received full-size datagram (skb truesize), to size slices. */
export const RX_TRUESIZE_BYTES = 2304;

/** Slice bounds: udpcast never goes below 32 blocks; 1024 is the bitmap size on the wire. */
export const MIN_SLICE_BLOCKS = 32;
export const MAX_SLICE_BLOCKS = 1024;

/**
 * A receiver that owes an answer and has been silent this long is dropped, so a dead
 * node costs the group seconds, not udpcast's ~200 REQACK rounds (about 3 minutes).
 */
export const DEFAULT_DROP_TIMEOUT_MS = 5000;

/**
 * HELLO repeat period before the start (and during it while a receiver never confirmed
 * its CONNECT_REPLY): a receiver whose reply was lost asks again on the next HELLO.
 */
export const DEFAULT_HELLO_INTERVAL_MS = 1000;

/** Our receiver re-sends CONNECT_REQ this often until it is connected. */
export const CONNECT_RETRY_MS = 1000;

/** With no explicit start condition, start this long after the last receiver joined (udpcast: 2 s). */
export const DEFAULT_QUIET_START_MS = 2000;

/** After the end, the receiver keeps answering late REQACKs this long (udpcast: 500 ms). */
export const DEFAULT_EXIT_WAIT_MS = 500;

/** REQACK answer timeout bounds; the timeout itself follows the measured answer delay. */
export const MIN_REQACK_TIMEOUT_MS = 5;
export const MAX_REQACK_TIMEOUT_MS = 500;

/** Progress events at most this often. */
export const PROGRESS_INTERVAL_MS = 500;

/**
 * Slices in flight. udp-receiver aborts on a packet two slices past its oldest incomplete
 * one, so a group with one keeps 2. Receivers that are all rackcast take 4: the sender goes
 * on sending while a slice's REQACK rounds run, where with 2 a lost REQACK leaves it idle
 * for a round timeout (docs/cast.md, Where it differs from udpcast, has the figures).
 */
export const UDPCAST_WINDOW_SLICES = 2;
export const WIDE_WINDOW_SLICES = 4;
